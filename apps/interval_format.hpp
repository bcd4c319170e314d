#pragma once
// Prediction intervals as the CLI prints them (cost/intervals.hpp computes them).
#include <string>

#include <nlohmann/json.hpp>

#include "format.hpp"
#include "parplan/cost/intervals.hpp"
#include "parplan/model/io.hpp"

namespace parplan::cli {

// The leave-one-run-out residuals `parplan fit --runs` wrote into a fitted cluster file
// ("own_residuals"); none for a preset or another cluster file.
inline std::vector<double> own_residuals(const std::string& cluster_spec) {
  std::vector<double> out;
  if (cluster_spec.empty() || cluster_spec.front() == '{') return out;
  nlohmann::json j;
  try {
    j = resolve_input(InputKind::Cluster, cluster_spec);
  } catch (const Error&) {
    return out;  // load_cluster already said what is wrong with it
  }
  if (j.is_object() && j.contains("own_residuals") && j["own_residuals"].is_array())
    for (const auto& x : j["own_residuals"])
      if (x.is_number()) out.push_back(x.get<double>());
  return out;
}

// "interval 1.21 s - 1.52 s, 180-226 model TFLOP/s; from dense 16-bit compute-bound fsdp2 (12
// cases, 3 sources) of the corpus", or "... from your 8 runs (...)" on a cluster of fit --runs
inline std::string interval_text(const cost::Interval& iv) {
  return "interval " + secs(iv.step_lo) + " - " + secs(iv.step_hi) + ", " +
         fmt("%.0f", iv.tflops_lo) + "-" + fmt("%.0f", iv.tflops_hi) +
         " model TFLOP/s; from " + iv.basis +
         (iv.basis.rfind("your ", 0) == 0 ? "" : " of the corpus");
}

inline nlohmann::json intervals_json(const cost::Interval& iv) {
  return {{"step_time_s", {iv.step_lo, iv.step_hi}},
          {"model_tflops_per_gpu", {iv.tflops_lo, iv.tflops_hi}},
          {"basis", iv.basis},
          {"cases", iv.cases}};
}

}  // namespace parplan::cli
