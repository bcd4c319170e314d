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
  std::string model;  // required: no default model
  std::string cluster = "dgx-a100-80g";
  std::string train = "gpt3-1536";
  std::string layout;  // only for commands that take a layout
  int64_t gpus = kNotGiven;  // not given: the layout's GPUs (predict) or cluster.job_gpus
  static constexpr int64_t kNotGiven = INT64_MIN;  // so an explicit --gpus -1 is an error
  bool cluster_given = false, train_given = false;  // set by the option parser
};

// Adds --model, --cluster, --train (and --layout when with_layout) and --gpus.
void add_input_options(CLI::App* cmd, InputSpecs& specs, bool with_layout);

struct Inputs {
  Model model;
  Cluster cluster;
  Training training;
  Layout layout;
  int64_t gpus = 0;  // resolved: --gpus, else the layout's GPUs (predict) or cluster.job_gpus
  bool cluster_default = false, train_default = false;  // --cluster / --train not given
  // The defaults taken, as "what was assumed" lines: {"cluster", "dgx-a100-80g (default; ...)"}.
  std::vector<std::pair<std::string, std::string>> defaults() const;
};
// Loads and validates; prints warnings to stderr; throws parplan::Error on any problem. With a
// layout (predict): --gpus, when given, must equal the layout's dp*tp*pp*cp. Without (plan,
// explain): --gpus is required unless the cluster file sets job_gpus.
Inputs load_inputs(const InputSpecs& specs, bool with_layout);

void print_warnings(const std::vector<std::string>& warnings);
// Writes text to `path` atomically, or to stdout when path is empty or "-".
void emit(const std::string& path, const std::string& text);

// The output policy (parplan/model/output_policy.hpp) for the option `name` of `cmd`, before the
// command's work: not given (or "-" where `stdout_ok`) is stdout; given as "" is refused; else
// check_output(name, path, inputs). Every command calls it first, so a bad path costs no work.
void check_out(const CLI::App* cmd, const std::string& name, const std::string& path,
               const std::vector<std::string>& inputs, bool stdout_ok = true);
// The specs of --model/--cluster/--train/--layout, as inputs the outputs must not replace.
std::vector<std::string> input_paths(const InputSpecs& specs);

}  // namespace parplan::cli
