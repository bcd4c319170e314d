#pragma once
// Predicted vs published measurements (shared/data/published/*.json, e.g. Korthikanti et al.
// 2022 Table 5 iteration times and Figure 1 memory).
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "parplan/cost/step.hpp"

namespace parplan::cost {

struct IterationCase {
  std::string label;  // "gpt3-175b 64 GPUs tp8 pp8 selective+sp v3"
  Model model;
  Training training;
  Layout layout;
  double measured_s = 0;
  StepCost predicted;
  double error() const { return (predicted.step_time_s - measured_s) / measured_s; }
};

struct MemoryCase {
  std::string label;  // "gpt3-175b none"
  double measured_params_optimizer_bytes = 0, measured_activation_bytes = 0;
  double predicted_params_optimizer_bytes = 0, predicted_activation_bytes = 0;
  double params_error() const;
  double activation_error() const;
};

struct ValidationReport {
  std::string source;
  std::vector<IterationCase> iterations;
  std::vector<MemoryCase> memory;
  double iteration_mape = 0, iteration_max_abs_error = 0;
  double params_max_abs_error = 0, activation_max_abs_error = 0;
};

// Builds each published case on `cluster` and predicts it. Throws parplan::Error when the file
// lacks a field it needs.
ValidationReport validate_published(const nlohmann::json& published, const Cluster& cluster);

}  // namespace parplan::cost
