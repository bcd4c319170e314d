#pragma once
// Shared CLI plumbing: the --model/--cluster/--train/--layout options, loading them, printing
// warnings, and writing output files.
#include <cstdint>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "parplan/model/plan.hpp"

namespace parplan::cli {

struct InputSpecs {
  std::string model = "gpt3-175b";
  std::string cluster = "dgx-a100-80g";
  std::string train = "gpt3-1536";
  std::string layout;  // only for commands that take a layout
  int64_t gpus = kWholeCluster;  // not given: the whole cluster
  static constexpr int64_t kWholeCluster = INT64_MIN;
};

// Adds --model, --cluster, --train (and --layout when with_layout) and --gpus.
void add_input_options(CLI::App* cmd, InputSpecs& specs, bool with_layout);

struct Inputs {
  Model model;
  Cluster cluster;
  Training training;
  Layout layout;
  int64_t gpus = 0;  // resolved: specs.gpus or the whole cluster
};
// Loads and validates; prints warnings to stderr; throws parplan::Error on any problem.
Inputs load_inputs(const InputSpecs& specs, bool with_layout);

void print_warnings(const std::vector<std::string>& warnings);
// Writes text to `path` atomically, or to stdout when path is empty or "-".
void emit(const std::string& path, const std::string& text);

}  // namespace parplan::cli
