#pragma once
// The whole-run block (time-to-train, GPU-hours, cost, energy, goodput) that predict, plan, sweep
// and explain print under a step prediction.
#include <string>

#include "parplan/cost/run.hpp"

namespace parplan::cli {

// Applies --tokens (when > 0) to the training setup; throws parplan::Error for a bad value.
void apply_tokens(Training& t, double tokens);
// Multi-line table of one run.
std::string run_table(const cost::RunCost& r);
// "1.23e6 USD" / "4.1e5 GPU-h" for a sweep column.
std::string money(double v, const std::string& currency);

}  // namespace parplan::cli
