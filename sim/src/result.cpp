// SimResult <-> JSON (the form `parplan simulate --json` prints and child processes send back).
#include <nlohmann/json.hpp>

#include "parplan/sim/step_sim.hpp"
#include "parplan/sim/worker.hpp"

namespace parplan::sim {

nlohmann::json to_json(const SimResult& r, bool with_trace) {
  nlohmann::json ranks = nlohmann::json::array();
  for (const auto& k : r.ranks)
    ranks.push_back({{"rank", k.rank},
                     {"layers", k.layers},
                     {"moe_layers", k.moe_layers},
                     {"compute_s", k.compute_s},
                     {"exposed_comm_s", k.exposed_comm_s},
                     {"exposed_comm_by_kind_s",
                      {{"tp", k.tp_s}, {"cp", k.cp_s}, {"ep", k.ep_s}, {"pp", k.pp_s}, {"dp", k.dp_s}}},
                     {"bubble_s", k.bubble_s},
                     {"idle_s", k.idle_s},
                     {"end_s", k.end_s}});
  nlohmann::json links = nlohmann::json::array();
  for (const auto& l : r.links)
    links.push_back(
        {{"name", l.name}, {"class", l.cls}, {"bytes", l.bytes}, {"utilization", l.utilization}});
  nlohmann::json j = {{"step_time_s", r.step_time_s},
                      {"analytical_step_time_s", r.analytical_step_time_s},
                      {"wall_s", r.wall_s},
                      {"events", r.events},
                      {"simulated_gpus", r.simulated_gpus},
                      {"topology", r.topology},
                      {"cp_bytes", {{"intra_node", r.cp_intra_node_bytes},
                                    {"inter_node", r.cp_inter_node_bytes}}},
                      {"ranks", ranks},
                      {"links", links}};
  nlohmann::json diffs = nlohmann::json::array();
  for (const auto& d : r.differences)
    diffs.push_back(
        {{"part", d.part}, {"simulated_s", d.simulated_s}, {"analytical_s", d.analytical_s}});
  j["differences"] = diffs;
  if (with_trace && !r.trace.is_null()) j["trace"] = r.trace;
  return j;
}

SimResult sim_result_from_json(const nlohmann::json& j) {
  SimResult r;
  r.step_time_s = j.value("step_time_s", 0.0);
  r.analytical_step_time_s = j.value("analytical_step_time_s", 0.0);
  r.wall_s = j.value("wall_s", 0.0);
  if (j.contains("cp_bytes")) {
    r.cp_intra_node_bytes = j["cp_bytes"].value("intra_node", 0.0);
    r.cp_inter_node_bytes = j["cp_bytes"].value("inter_node", 0.0);
  }
  for (const auto& d : j.value("differences", nlohmann::json::array()))
    r.differences.push_back({d.value("part", std::string()), d.value("simulated_s", 0.0),
                             d.value("analytical_s", 0.0)});
  r.events = j.value("events", uint64_t{0});
  r.simulated_gpus = j.value("simulated_gpus", int64_t{0});
  r.topology = j.value("topology", std::string());
  for (const auto& k : j.value("ranks", nlohmann::json::array())) {
    RankResult x;
    x.rank = k.value("rank", int64_t{0});
    x.layers = k.value("layers", int64_t{0});
    x.moe_layers = k.value("moe_layers", int64_t{0});
    x.compute_s = k.value("compute_s", 0.0);
    x.exposed_comm_s = k.value("exposed_comm_s", 0.0);
    if (k.contains("exposed_comm_by_kind_s")) {
      const auto& e = k["exposed_comm_by_kind_s"];
      x.tp_s = e.value("tp", 0.0);
      x.cp_s = e.value("cp", 0.0);
      x.ep_s = e.value("ep", 0.0);
      x.pp_s = e.value("pp", 0.0);
      x.dp_s = e.value("dp", 0.0);
    }
    x.bubble_s = k.value("bubble_s", 0.0);
    x.idle_s = k.value("idle_s", 0.0);
    x.end_s = k.value("end_s", 0.0);
    r.ranks.push_back(x);
  }
  for (const auto& l : j.value("links", nlohmann::json::array()))
    r.links.push_back({l.value("name", std::string()), l.value("class", std::string()),
                       l.value("bytes", 0.0), l.value("utilization", 0.0)});
  if (j.contains("trace")) r.trace = j["trace"];
  return r;
}

SimResult simulate_isolated(const Plan& plan, const SimOptions& opt, double max_wall_s) {
  return sim_result_from_json(
      run_in_child([&] { return to_json(simulate_step(plan, opt), true); }, max_wall_s));
}

}  // namespace parplan::sim
