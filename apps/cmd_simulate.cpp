// `parplan simulate`: one training step of a plan simulated with SimGrid (sim/), in a child
// process, compared with the analytical prediction.
#include <cmath>
#include <iostream>
#include <limits>
#include <memory>
#include <nlohmann/json.hpp>
#include <sstream>

#include "commands.hpp"
#include "format.hpp"
#include "inputs.hpp"
#include "parplan/model/io.hpp"
#include "parplan/sim/step_sim.hpp"
#include "parplan/sim/worker.hpp"

namespace parplan::cli {

namespace {

struct SimulateArgs {
  std::string plan;
  bool json = false;
  std::string trace;
  double max_sim_s = 300;
  std::string network = "cm02";
  std::string granularity = "auto";
  bool all_replicas = false;
};

std::string pad(std::string s, size_t width) {
  if (s.size() < width) s.append(width - s.size(), ' ');
  return s;
}

std::string table(const Plan& p, const sim::SimResult& r) {
  std::ostringstream o;
  o << p.model.name << " on " << p.layout.gpus() << " x " << p.cluster.gpu.name << " ("
    << p.cluster.name << ", " << r.topology << "), " << describe(p.layout) << "\n\n";
  o << "simulated step   " << secs(r.step_time_s) << "\n";
  o << "analytical step  " << secs(r.analytical_step_time_s);
  if (r.analytical_step_time_s > 0)
    o << "  (simulated / analytical = " << fmt("%.3f", r.step_time_s / r.analytical_step_time_s)
      << ")";
  o << "\n";
  if (!r.differences.empty()) {
    o << "largest differences (critical rank, simulated - analytical):";
    for (size_t i = 0; i < r.differences.size(); ++i) {
      const auto& d = r.differences[i];
      o << (i ? "," : "") << " " << d.part << " " << fmt("%+.4f s", d.simulated_s - d.analytical_s)
        << " (" << secs(d.simulated_s) << " vs " << secs(d.analytical_s) << ")";
    }
    o << "\n";
  }
  o << "simulation       " << fmt("%.2f s wall", r.wall_s) << ", " << r.events << " events, "
    << r.simulated_gpus << " GPUs with a full schedule\n\n";
  o << "rank   compute      tp          cp          ep          pp          dp          bubble      idle\n";
  const size_t show = std::min<size_t>(r.ranks.size(), 16);
  const size_t stride = r.ranks.size() > show ? r.ranks.size() / show : 1;
  for (size_t i = 0; i < r.ranks.size(); i += stride) {
    const auto& k = r.ranks[i];
    o << fmt("%-6.0f ", double(k.rank)) << pad(secs(k.compute_s), 12) << pad(secs(k.tp_s), 12)
      << pad(secs(k.cp_s), 12) << pad(secs(k.ep_s), 12) << pad(secs(k.pp_s), 12) << pad(secs(k.dp_s), 12)
      << pad(secs(k.bubble_s), 12) << secs(k.idle_s) << "\n";
  }
  if (!r.links.empty()) {
    o << "\nbusiest links\n";
    for (size_t i = 0; i < std::min<size_t>(r.links.size(), 8); ++i)
      o << "  " << pad(r.links[i].name, 40) << pad(r.links[i].cls, 8) << pct(r.links[i].utilization)
        << "\n";
  }
  return o.str();
}

void run_simulate(const SimulateArgs& a) {
  std::vector<std::string> warnings;
  const Plan plan = load_plan(a.plan, &warnings);
  print_warnings(warnings);
  sim::SimOptions opt;
  if (!sim::parse_network_model(a.network, opt.network))
    throw Error("--network must be cm02 or tcp, got '" + a.network + "'");
  if (a.granularity == "auto")
    opt.granularity = sim::Granularity::Auto;
  else if (a.granularity == "layer")
    opt.granularity = sim::Granularity::Layer;
  else if (a.granularity == "chunk")
    opt.granularity = sim::Granularity::Chunk;
  else
    throw Error("--granularity must be auto, layer or chunk, got '" + a.granularity + "'");
  if (!(a.max_sim_s > 0)) throw Error("--max-sim-s must be > 0");
  opt.aggregate_replicas = !a.all_replicas;
  opt.trace = !a.trace.empty();
  const sim::SimResult r = sim::simulate_isolated(plan, opt, a.max_sim_s);
  if (!a.trace.empty()) write_file_atomic(a.trace, r.trace.dump() + "\n");
  if (a.json)
    emit("", sim::to_json(r, false).dump(2));
  else
    emit("", table(plan, r));
}

}  // namespace

void add_simulate_command(CLI::App& app) {
  auto a = std::make_shared<SimulateArgs>();
  auto* cmd = app.add_subcommand(
      "simulate", "simulate one training step of a plan with SimGrid (contention, overlap)");
  cmd->add_option("--plan,-p", a->plan, "plan: JSON file (parplan plan --out) or inline JSON")
      ->required();
  cmd->add_flag("--json", a->json, "print the result as JSON");
  cmd->add_option("--trace", a->trace, "write a Chrome/Perfetto trace-event JSON file");
  cmd->add_option("--max-sim-s", a->max_sim_s, "wall-time limit of the simulation in seconds")
      ->capture_default_str();
  cmd->add_option("--network", a->network,
                  "network model: cm02 (bandwidth/latency) or tcp (SimGrid's calibrated TCP)")
      ->capture_default_str();
  cmd->add_option("--granularity", a->granularity,
                  "events per chunk or per layer: auto, chunk, layer")
      ->capture_default_str();
  cmd->add_flag(
      "--all-replicas", a->all_replicas,
      "run every data-parallel replica's whole schedule (default: one replica + all DP traffic)");
  cmd->callback([a, cmd] {
    check_out(cmd, "--trace", a->trace, {a->plan}, false);  // before the simulation
    run_simulate(*a);
  });
}

void add_step_times_command(CLI::App& app) {
  // Hidden: `parplan plan --simulate K` (sim_client.cpp) sends the plans as a JSON array in a
  // file and reads [{"step_time_s": x} | {"error": message}, ...] from stdout.
  auto plans_path = std::make_shared<std::string>();
  auto max_sim_s = std::make_shared<double>(120);
  auto* cmd = app.add_subcommand("step-times", "");
  cmd->group("");
  cmd->add_option("--plans", *plans_path)->required();
  cmd->add_option("--max-sim-s", *max_sim_s);
  cmd->callback([plans_path, max_sim_s] {
    const auto arr = parse_json_text(read_file(*plans_path), *plans_path);
    std::vector<sim::ChildTask> tasks;
    for (const auto& pj : arr) {
      Diagnostics d;
      Plan p = plan_from_json(pj, d);
      d.throw_if_errors("plan");
      tasks.push_back([p] {
        return nlohmann::json{{"step_time_s", sim::simulate_step(p).step_time_s}};
      });
    }
    emit("", nlohmann::json(sim::run_in_children(tasks, *max_sim_s, 2)).dump());
  });
}

}  // namespace parplan::cli
