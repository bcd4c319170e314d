#pragma once
// SimGrid simulation of one training step of a plan: per-GPU actors run the pipeline schedule
// (GPipe, 1F1B, interleaved) with compute as executions whose durations are cost::StepWork's
// per-op times, and every collective as its algorithm's point-to-point flows on shared links.
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "parplan/cost/step.hpp"
#include "parplan/model/plan.hpp"
#include "parplan/sim/platform.hpp"

namespace parplan::sim {

enum class Granularity {
  Auto,   // Chunk when exact enough (no CP, ZeRO < 3), else Layer
  Layer,  // one execution and its TP collectives per layer
  Chunk,  // one execution and one coarsened TP collective per model chunk and micro-batch
};

struct SimOptions {
  NetworkModel network = NetworkModel::Cm02;
  Granularity granularity = Granularity::Auto;
  // Simulate one data-parallel replica's pipeline and, on the other replicas, only the DP
  // collectives, started when replica 0 starts them (exact for identical replicas; see
  // docs/simulation.md). Off: every replica runs its whole schedule.
  bool aggregate_replicas = true;
  bool trace = false;            // record a Chrome trace in SimResult::trace
  int64_t trace_max_ranks = 64;  // GPU tracks kept in the trace
};

struct RankResult {
  int64_t rank = 0;
  // Transformer layers of its pipeline stage (every chunk), and how many of them are MoE layers:
  // the plan's split (cost::stage_layer_split, uneven first/last stages included).
  int64_t layers = 0, moe_layers = 0;
  double compute_s = 0;       // executions: fwd, bwd, recompute, embedding, logits, optimizer
  double exposed_comm_s = 0;  // tp + cp + ep + pp + dp below
  double tp_s = 0, cp_s = 0, pp_s = 0, dp_s = 0;  // waiting on each kind of communication
  double ep_s = 0;  // MoE dispatch/combine all-to-alls over the expert-parallel group
  double bubble_s = 0;                            // pipeline fill and drain
  double idle_s = 0;                              // waiting for other ranks at the end of the step
  double end_s = 0;
};

struct LinkResult {
  std::string name;
  std::string cls;         // intra, nic, fabric
  double bytes = 0;        // carried during the step
  double utilization = 0;  // bytes / (bandwidth * step time)
};

// One part of the step on the critical (busiest) simulated rank next to the analytical model's
// (cost::TimeBreakdown): compute (with the optimizer), tp, cp, ep, pp, dp, bubble (with idle).
struct StepPart {
  std::string part;
  double simulated_s = 0, analytical_s = 0;
};

struct SimResult {
  double step_time_s = 0;
  double analytical_step_time_s = 0;
  // The parts whose simulated and analytical times differ most, the largest |difference| first
  // (three at most): where the two models disagree.
  std::vector<StepPart> differences;
  double wall_s = 0;
  uint64_t events = 0;         // executions + messages simulated
  int64_t simulated_gpus = 0;  // GPUs with a full schedule (the rest: DP collectives only)
  std::string topology;
  std::vector<RankResult> ranks;
  std::vector<LinkResult> links;  // the busiest links, by utilisation
  // Bytes the context-parallel messages (ring and Ulysses) of the simulated DP replicas carried
  // inside a node and between nodes, every TP lane counted (a lane that stands for the others
  // counts for tp lanes).
  double cp_intra_node_bytes = 0, cp_inter_node_bytes = 0;
  nlohmann::json trace;           // Chrome trace when SimOptions::trace
};

// Simulates in this process (one engine per process: use simulate_isolated or run_in_child).
// Throws parplan::Error when the plan does not fit the cluster or the cluster cannot be built.
SimResult simulate_step(const Plan& plan, const SimOptions& opt = {});
// The same with an explicit work list (tests use it for uniform stages).
SimResult simulate_step(const Plan& plan, const cost::StepWork& work, const SimOptions& opt = {});

// simulate_step in a forked child; throws parplan::Error on failure or after max_wall_s.
SimResult simulate_isolated(const Plan& plan, const SimOptions& opt, double max_wall_s);

nlohmann::json to_json(const SimResult& r, bool with_trace = false);
SimResult sim_result_from_json(const nlohmann::json& j);

}  // namespace parplan::sim
