#pragma once
// The training loop of one rank, and the checks `parplan run` makes before it spawns ranks.
#include <string>
#include <vector>

#include "parplan/model/plan.hpp"
#include "parplan/runtime/run.hpp"

namespace parplan::runtime {

// Everything about the plan the runtime cannot execute, as one parplan::Error; warnings (features
// the runtime ignores, e.g. recomputation) are returned.
std::vector<std::string> check_runnable(const Plan& plan, int nproc);

// --layers / --hidden / --vocab applied to the plan's model (run_options.cpp); throws naming the
// option.
void apply_model_overrides(Plan& plan, const RunOptions& o);

// Runs one rank (rank/world/master from the environment). Rank 0 returns measured.json.
nlohmann::json train_rank(const RunOptions& o);

}  // namespace parplan::runtime
