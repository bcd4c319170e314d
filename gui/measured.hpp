#pragma once
// A measured run (measured.json written by `parplan run`, or a run `parplan import` read from a
// training log) next to the cost model's prediction
// for the same plan, for the predicted-vs-measured view. No Qt.
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "parplan/model/plan.hpp"

namespace parplan::gui {

struct MeasuredRun {
  std::string source;  // file it came from (for display)
  nlohmann::json raw;  // the file's JSON, kept whole so a saved workspace loses nothing
  Plan plan;
  double measured_step_s = 0;
  double measured_tokens_per_s = 0;
  double measured_mfu = 0;
  // The cost model's prediction for plan.{model, cluster, train, layout}.
  double predicted_step_s = 0;
  double predicted_tokens_per_s = 0;
  double predicted_mfu = 0;

  // (predicted - measured) / measured step time.
  double step_error() const {
    return measured_step_s > 0 ? (predicted_step_s - measured_step_s) / measured_step_s : 0;
  }
};

// Reads measured.json (keys mean_step_time_s, tokens_per_s, mfu, plan{model, cluster, train,
// layout}), or a run `parplan import` wrote (the corpus format: its figure as a step time), and
// predicts its plan. Throws parplan::Error naming the source and the bad field.
MeasuredRun measured_from_json(const nlohmann::json& j, const std::string& source);
MeasuredRun load_measured(const std::string& path);

// Mean of |step_error| over the runs (0 when empty).
double mean_abs_step_error(const std::vector<MeasuredRun>& runs);

}  // namespace parplan::gui
