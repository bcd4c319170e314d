#pragma once
// A measured run as `parplan compare` and `parplan fit` read it: the measured.json that
// `parplan run` writes (runtime/src/trainer.cpp). Every field is type-checked; a wrongly typed or
// missing one is a parplan::Error naming it.
#include <string>

#include "parplan/model/plan.hpp"

namespace parplan {

struct MeasuredRun {
  std::string path;
  bool has_plan = false;  // the file holds the plan it ran
  Plan plan;
  double step_time_s = 0;        // the chosen statistic (mean | median | min) over the steps
  double tokens_per_s = 0;       // rescaled to that statistic
  double mfu = 0;                // rescaled to that statistic
  double memory_bytes = 0;       // the largest peak_memory_bytes entry (0: none reported)
  bool model_state_only = false;  // CPU runs report params + grads + optimizer bytes
  std::string memory_kind;        // as the file says ("model_state", "cpu_peak_tensor_bytes", ...)
};

// `stat`: "mean", "median" or "min"; `path` names the file in messages.
MeasuredRun measured_from_json(const nlohmann::json& j, const std::string& stat,
                               const std::string& path, Diagnostics& d);
// Reads and checks a measured.json; throws parplan::Error listing every problem.
MeasuredRun load_measured(const std::string& path, const std::string& stat = "mean");

}  // namespace parplan
