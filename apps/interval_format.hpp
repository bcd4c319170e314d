#pragma once
// Prediction intervals as the CLI prints them (cost/intervals.hpp computes them).
#include <string>

#include <nlohmann/json.hpp>

#include "format.hpp"
#include "parplan/cost/intervals.hpp"

namespace parplan::cli {

// "interval 1.21 s - 1.52 s, 180-226 model TFLOP/s; from hopper fsdp2 compute-bound (12 cases)"
inline std::string interval_text(const cost::Interval& iv) {
  return "interval " + secs(iv.step_lo) + " - " + secs(iv.step_hi) + ", " +
         fmt("%.0f", iv.tflops_lo) + "-" + fmt("%.0f", iv.tflops_hi) +
         " model TFLOP/s; from " + iv.basis + " of the corpus";
}

inline nlohmann::json intervals_json(const cost::Interval& iv) {
  return {{"step_time_s", {iv.step_lo, iv.step_hi}},
          {"model_tflops_per_gpu", {iv.tflops_lo, iv.tflops_hi}},
          {"basis", iv.basis},
          {"cases", iv.cases}};
}

}  // namespace parplan::cli
