#include "inputs.hpp"

#include <iostream>

#include "parplan/model/io.hpp"

namespace parplan::cli {

void add_input_options(CLI::App* cmd, InputSpecs& s, bool with_layout) {
  cmd->add_option("--model,-m", s.model,
                  "model: preset name, JSON file, inline JSON, or a Hugging Face config.json")
      ->capture_default_str();
  cmd->add_option("--cluster,-c", s.cluster, "cluster: preset name, JSON file or inline JSON")
      ->capture_default_str();
  cmd->add_option("--train,-t", s.train, "training setup: preset name, JSON file or inline JSON")
      ->capture_default_str();
  if (with_layout)
    cmd->add_option("--layout,-l", s.layout, "layout: JSON file or inline JSON (required)");
  cmd->add_option("--gpus,-g", s.gpus, "GPUs to use (default: the whole cluster)");
}

Inputs load_inputs(const InputSpecs& s, bool with_layout) {
  std::vector<std::string> warnings;
  Inputs in;
  in.model = load_model(s.model, &warnings);
  in.cluster = load_cluster(s.cluster, &warnings);
  in.training = load_training(s.train, &warnings);
  if (s.gpus != InputSpecs::kWholeCluster && s.gpus < 1)
    throw Error("--gpus must be >= 1 (zero GPUs cannot train), got " + std::to_string(s.gpus) +
                "; leave it out to use the whole cluster");
  in.gpus = s.gpus != InputSpecs::kWholeCluster ? s.gpus : in.cluster.total_gpus();
  if (in.gpus > in.cluster.total_gpus())
    throw Error("--gpus " + std::to_string(in.gpus) + " exceeds the cluster's " +
                std::to_string(in.cluster.total_gpus()) + " GPUs (" +
                std::to_string(in.cluster.nodes) + " nodes x " +
                std::to_string(in.cluster.gpus_per_node) +
                "); lower --gpus or add nodes to the cluster file");
  if (with_layout) {
    if (s.layout.empty()) throw Error("--layout is required: a JSON file or inline JSON, e.g. '{\"tp\": 8}'");
    in.layout = load_layout(s.layout, &warnings);
    Diagnostics d;
    validate(in.layout, in.model, in.cluster, in.training, d);
    for (auto& w : d.warnings) warnings.push_back("warning: " + w);
    d.throw_if_errors("layout for " + in.model.name + " on " + in.cluster.name);
  }
  print_warnings(warnings);
  return in;
}

void print_warnings(const std::vector<std::string>& warnings) {
  for (const auto& w : warnings) std::cerr << w << "\n";
}

void emit(const std::string& path, const std::string& text) {
  if (path.empty() || path == "-") {
    std::cout << text;
    if (!text.empty() && text.back() != '\n') std::cout << "\n";
    return;
  }
  write_file_atomic(path, !text.empty() && text.back() == '\n' ? text : text + "\n");
}

}  // namespace parplan::cli
