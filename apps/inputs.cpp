#include "inputs.hpp"

#include <iostream>

#include "parplan/cost/floors.hpp"
#include "parplan/cost/framework.hpp"
#include "parplan/model/io.hpp"
#include "parplan/model/output_policy.hpp"

namespace parplan::cli {

void add_input_options(CLI::App* cmd, InputSpecs& s, bool with_layout) {
  cmd->add_option("--model,-m", s.model,
                  "model (required): preset name, JSON file, inline JSON, or a Hugging Face "
                  "config.json");
  cmd->add_option("--cluster,-c", s.cluster, "cluster: preset name, JSON file or inline JSON")
      ->capture_default_str()
      ->each([&s](const std::string&) { s.cluster_given = true; });
  cmd->add_option("--train,-t", s.train, "training setup: preset name, JSON file or inline JSON")
      ->capture_default_str()
      ->each([&s](const std::string&) { s.train_given = true; });
  if (with_layout) {
    cmd->add_option("--layout,-l", s.layout, "layout: JSON file or inline JSON (required)");
    cmd->add_option("--gpus,-g", s.gpus,
                    "GPUs of the job; must equal the layout's dp*tp*pp*cp (default: the layout's)");
  } else {
    cmd->add_option("--gpus,-g", s.gpus,
                    "GPUs the job gets (required unless the cluster file sets job_gpus)");
  }
}

Inputs load_inputs(const InputSpecs& s, bool with_layout) {
  std::vector<std::string> warnings;
  Inputs in;
  if (s.model.empty())
    throw Error("--model is required: a preset (" + [] {
      std::string names;
      for (const auto& n : preset_names(InputKind::Model)) names += (names.empty() ? "" : ", ") + n;
      return names;
    }() + "), a JSON file, inline JSON, or a Hugging Face config.json");
  in.model = load_model(s.model, &warnings);
  in.cluster_default = !s.cluster_given;
  in.train_default = !s.train_given;
  in.cluster = load_cluster(s.cluster, &warnings);
  in.training = load_training(s.train, &warnings);
  for (const auto& scope : cost::unpriced_graph_scopes(in.training))
    warnings.push_back("warning: train.cuda_graph_scope: framework " +
                       cost::framework_behaviour(in.training).name +
                       " has no kernel inventory for scope \"" + scope +
                       "\" (examples/frameworks/*.json kernels.graph_scopes); its host cost is "
                       "predicted as if not captured");
  if (s.gpus != InputSpecs::kNotGiven && s.gpus < 1)
    throw Error("--gpus must be >= 1 (zero GPUs cannot train), got " + std::to_string(s.gpus));
  if (s.gpus != InputSpecs::kNotGiven)
    in.gpus = s.gpus;
  else if (!with_layout && in.cluster.job_gpus > 0)
    in.gpus = in.cluster.job_gpus;
  else if (!with_layout)
    throw Error("--gpus is required: how many of the cluster's " +
                std::to_string(in.cluster.total_gpus()) + " GPUs (" + in.cluster.name +
                ") the job gets; or set job_gpus in the cluster file");
  if (in.gpus > in.cluster.total_gpus())
    throw Error("--gpus " + std::to_string(in.gpus) + " exceeds the cluster's " +
                std::to_string(in.cluster.total_gpus()) + " GPUs (" +
                std::to_string(in.cluster.nodes) + " nodes x " +
                std::to_string(in.cluster.gpus_per_node) +
                "); lower --gpus or add nodes to the cluster file");
  if (with_layout) {
    if (s.layout.empty()) throw Error("--layout is required: a JSON file or inline JSON, e.g. '{\"tp\": 8}'");
    in.layout = load_layout(s.layout, &warnings);
    if (s.gpus > 0 && in.layout.gpus() != s.gpus)
      throw Error("--gpus " + std::to_string(s.gpus) + " but the layout needs " +
                  std::to_string(in.layout.gpus()) + " (dp*tp*pp*cp = " +
                  std::to_string(in.layout.dp) + "*" + std::to_string(in.layout.tp) + "*" +
                  std::to_string(in.layout.pp) + "*" + std::to_string(in.layout.cp) +
                  "); change the layout's degrees or --gpus so they agree");
    if (s.gpus <= 0) in.gpus = in.layout.gpus();
    Diagnostics d;
    validate(in.layout, in.model, in.cluster, in.training, d);
    for (auto& w : d.warnings) warnings.push_back("warning: " + w);
    d.throw_if_errors("layout for " + in.model.name + " on " + in.cluster.name);
  }
  print_warnings(warnings);
  return in;
}

std::vector<std::pair<std::string, std::string>> Inputs::defaults() const {
  std::vector<std::pair<std::string, std::string>> d;
  if (cluster_default) d.push_back({"cluster", cluster.name + " (default; pass --cluster)"});
  if (train_default) d.push_back({"train", "global batch " + std::to_string(training.global_batch) +
                                               " x " + std::to_string(training.seq_len) +
                                               " (default gpt3-1536; pass --train)"});
  return d;
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

void check_out(const CLI::App* cmd, const std::string& name, const std::string& path,
               const std::vector<std::string>& inputs, bool stdout_ok) {
  const CLI::Option* opt = cmd->get_option_no_throw(name);
  const bool given = opt && opt->count() > 0;
  if (!given) return;
  if (path.empty())
    throw Error(name + " is empty; name the file to write" +
                (stdout_ok ? std::string(" (or leave " + name + " out to print to stdout)") : ""));
  if (stdout_ok && path == "-") return;
  check_output(name, path, inputs);
}

std::vector<std::string> input_paths(const InputSpecs& s) {
  return {s.model, s.cluster, s.train, s.layout};
}

}  // namespace parplan::cli
