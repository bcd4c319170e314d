// `parplan predict`: the analytical cost of one layout (step time, throughput, MFU, memory).
#include <iostream>
#include <optional>
#include <sstream>

#include <nlohmann/json.hpp>

#include "commands.hpp"
#include "format.hpp"
#include "interval_format.hpp"
#include "inputs.hpp"
#include "option_checks.hpp"
#include "parplan/cost/intervals.hpp"
#include "params_view.hpp"
#include "run_format.hpp"
#include "parplan/cost/run.hpp"
#include "parplan/cost/step.hpp"
#include "main_common.hpp"
#include "parplan/model/io.hpp"
#include "parplan/planner/assumptions.hpp"

namespace parplan::cli {

namespace {
struct PredictArgs {
  InputSpecs in;
  bool json = false;
  std::string out;
  int stage = -1;
  std::string plan;
  bool allow_oom = false;
  double tokens = 0;
};

// What the prediction assumed beyond the layout, under the table and in the JSON.
std::string assumptions_text(const Inputs& in) {
  std::ostringstream o;
  o << "\nthe prediction assumed\n";
  for (const auto& [k, v] : in.defaults()) o << "  " << pad(k, 22) << v << "\n";
  for (const auto& a : planner::prediction_assumptions(in.model, in.training, in.layout))
    o << "  " << pad(a.name, 22) << pad(a.value, 30) << " " << a.why << "\n";
  return o.str();
}
nlohmann::json assumptions_json(const Inputs& in) {
  nlohmann::json j = nlohmann::json::object();
  for (const auto& [k, v] : in.defaults()) j[k] = v;
  for (const auto& a : planner::prediction_assumptions(in.model, in.training, in.layout))
    j[a.name] = {{"value", a.value}, {"from", a.why}};
  return j;
}

std::string table(const Inputs& in, const cost::StepCost& s, const cost::Interval& iv) {
  std::ostringstream o;
  const auto& t = s.time;
  const auto& m = s.memory;
  o << in.model.name << " on " << in.layout.gpus() << " x " << in.cluster.gpu.name << " ("
    << in.cluster.name << "), " << describe(in.layout) << "\n";
  o << "  global batch " << in.training.global_batch << " x " << in.training.seq_len
    << " tokens, " << s.micro_batches << " micro-batches per pipeline, " << to_string(in.training.dtype)
    << "\n";
  o << "  parameters " << parameters_line(in.model) << "\n\n";
  o << "step time        " << secs(s.step_time_s) << "   (" << interval_text(iv) << ")\n";
  o << "  compute        " << secs(t.compute) << "\n";
  o << "  TP comm        " << secs(t.tp_comm) << "\n";
  o << "  CP comm        " << secs(t.cp_comm) << "\n";
  if (t.ep_comm > 0) o << "  EP comm        " << secs(t.ep_comm) << "\n";
  o << "  launch and latency " << secs(t.launch_latency) << "\n";
  o << "  PP comm        " << secs(t.pp_comm) << "\n";
  o << "  PP bubble      " << secs(t.pp_bubble) << "\n";
  o << "  DP comm        " << secs(t.dp_comm_exposed) << " exposed of " << secs(t.dp_comm_total)
    << "\n";
  o << "  optimizer      " << secs(t.optimizer) << "\n";
  o << "throughput       " << fmt("%.0f", s.tokens_per_s) << " tokens/s, "
    << fmt("%.1f", s.model_tflops_per_gpu) << " model TFLOP/s per GPU\n";
  o << "MFU / HFU        " << pct(s.mfu) << " / " << pct(s.hfu) << "   (" << mfu_peak_text(in.cluster, in.training)
    << ")\n";
  o << "exposed comm     " << pct(s.exposed_comm_fraction) << " of the step\n\n";
  o << "memory per GPU (pipeline stage " << m.stage << ")\n";
  o << "  parameters     " << gib(m.params) << "\n";
  o << "  gradients      " << gib(m.grads) << "\n";
  o << "  optimizer      " << gib(m.optimizer) << "\n";
  o << "  activations    " << gib(m.activations) << "\n";
  o << "  buffers        " << gib(m.buffers) << "\n";
  o << "  reserve        " << gib(m.reserve) << "\n";
  o << "  total          " << gib(m.total) << " of " << gib(m.capacity)
    << (m.fits ? "  (fits)" : "  (DOES NOT FIT)") << "\n";
  if (m.cpu_offload > 0) o << "  on CPU         " << gib(m.cpu_offload) << "\n";
  if (m.host_per_node > 0 || m.nvme_per_node > 0) {
    const bool nvme = m.nvme_per_node > 0;
    const double capacity = nvme ? m.nvme_capacity : m.host_capacity;
    o << (nvme ? "  NVMe per node  " : "  host per node  ")
      << gib(nvme ? m.nvme_per_node : m.host_per_node);
    if (capacity > 0)  // 0: the cluster file does not give it, so nothing was checked
      o << " of " << gib(capacity) << (m.fits_host ? "  (fits)" : "  (DOES NOT FIT the host)");
    else
      o << "  (not checked: the cluster gives no " << (nvme ? "host.nvme_GiB" : "host.memory_GiB")
        << ")";
    o << "\n";
  }
  return o.str();
}
}  // namespace

void add_predict_command(CLI::App& app) {
  auto args = std::make_shared<PredictArgs>();
  auto* cmd = app.add_subcommand("predict", "predict step time, throughput, MFU and memory of a layout");
  add_input_options(cmd, args->in, true);
  cmd->add_flag("--json", args->json, "print JSON (fields: docs/design.md)");
  cmd->add_option("--out,-o", args->out, "also write the plan (inputs + layout + prediction) here");
  cmd->add_option("--plan,-p", args->plan, "take model, cluster, train and layout from a plan file");
  cmd->add_option("--stage", args->stage, "memory of this pipeline stage (default: the peak one)")
      ->check(int_range(0, 1 << 20));
  cmd->add_flag("--allow-oom", args->allow_oom,
                "exit 0 even when the layout does not fit in GPU memory (default: exit 4, "
                "docs/errors.md)");
  cmd->footer("Exit codes: 0 the layout fits; 4 it does not fit (the table is still printed; "
              "--allow-oom: 0); 2 bad input.");
  cmd->add_option("--tokens", args->tokens,
                  "total training tokens: adds time-to-train, GPU-hours, cost, energy, goodput");
  cmd->callback([args, cmd] {
    if (!args->plan.empty() && (!args->in.model.empty() || !args->in.layout.empty() ||
                                args->in.cluster_given || args->in.train_given ||
                                args->in.gpus != InputSpecs::kNotGiven))
      throw Error("--plan takes the model, cluster, train, layout and GPUs from the plan file; "
                  "leave out --model/--cluster/--train/--layout/--gpus, or leave out --plan");
    std::vector<std::string> inputs = input_paths(args->in);
    inputs.push_back(args->plan);
    check_out(cmd, "--out", args->out, inputs);
    Inputs in;
    if (!args->plan.empty()) {
      std::vector<std::string> warnings;
      Plan p = load_plan(args->plan, &warnings);
      print_warnings(warnings);
      in.model = p.model;
      in.cluster = p.cluster;
      in.training = p.training;
      in.layout = p.layout;
      in.gpus = p.layout.gpus();
    } else {
      in = load_inputs(args->in, true);
    }
    cost::StepCost s = cost::predict(in.model, in.cluster, in.training, in.layout);
    if (args->stage >= 0) {
      if (args->stage >= in.layout.pp)
        throw Error("--stage must be below pp (" + std::to_string(in.layout.pp) + ")");
      s.memory = cost::memory_per_gpu(in.model, in.cluster, in.training, in.layout, args->stage);
    }
    apply_tokens(in.training, args->tokens);
    std::optional<cost::RunCost> run;
    if (in.training.tokens > 0)
      run = cost::run_cost(in.model, in.cluster, in.training, in.layout, s);
    if (!args->out.empty()) {
      Plan p{in.model, in.cluster, in.training, in.layout, cost::to_json(s), {}};
      if (run) p.prediction["run"] = cost::to_json(*run);
      emit(args->out, to_json(p).dump(2));
    }
    const cost::Interval iv =
        cost::own_interval(args->plan.empty() ? own_residuals(args->in.cluster) : std::vector<double>{}, s,
                           cost::prediction_interval(in.model, in.cluster, in.training, s));
    if (args->json) {
      nlohmann::json j = cost::to_json(s);
      j["layout"] = to_json(in.layout);
      j["intervals"] = intervals_json(iv);
      j["assumptions"] = assumptions_json(in);
      j["parameters"] = parameters_json(in.model);
      j["mfu_peak"] = mfu_peak_json(in.cluster, in.training);
      if (run) j["run"] = cost::to_json(*run);
      std::cout << j.dump(2) << "\n";
    } else {
      std::cout << table(in, s, iv);
      if (run) std::cout << "\n" << run_table(*run);
      std::cout << assumptions_text(in);
    }
    if (!s.memory.fits && !args->allow_oom) {
      std::cout.flush();
      std::cerr << "error: the layout does not fit: " << gib(s.memory.total) << " of "
                << gib(s.memory.capacity)
                << " per GPU (exit 4); enable recomputation or ZeRO, raise tp/pp, lower the "
                   "micro-batch, or pass --allow-oom to accept it\n";
      throw ExitCode{4};
    }
  });
}

}  // namespace parplan::cli
