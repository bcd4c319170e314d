#include "parplan/sim/step_sim.hpp"

#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>
#include <sstream>

#include "../support/preset_plan.hpp"
#include "parplan/cost/pipeline.hpp"
#include "parplan/cost/validation.hpp"
#include "parplan/model/io.hpp"
#include "parplan/sim/worker.hpp"

using namespace parplan;

namespace {

Plan small_plan(const Layout& l, int64_t nodes = 2, int64_t global_batch = 32) {
  Plan p = test::preset_plan("gpt2-124m", "dgx-a100-80g",
                             R"({"global_batch": )" + std::to_string(global_batch) +
                                 R"(, "seq_len": 1024, "dtype": "bf16"})",
                             l);
  p.cluster.nodes = nodes;
  return p;
}

// Uniform stages: only transformer layers, no embedding or logits, tiny pipeline messages.
cost::StepWork uniform_work(const Plan& p) {
  cost::StepWork w;
  w.micro_batches = cost::micro_batches(p.training, p.layout);
  w.chunks = p.layout.virtual_stages;
  w.layers_per_chunk = p.model.layers / (int64_t(p.layout.pp) * p.layout.virtual_stages);
  w.layer.fwd_s = 1e-3;
  w.layer.bwd_s = 2e-3;
  w.pp_bytes = 1;
  return w;
}

}  // namespace

TEST(StepSim, PipelineBubbleIsPMinusOneOverVmOfTheIdealStepForUniformStages) {
  struct Case {
    Schedule s;
    int v;
  };
  for (Case k :
       {Case{Schedule::OneFOneB, 1}, Case{Schedule::GPipe, 1}, Case{Schedule::Interleaved, 3}}) {
    Layout l;
    l.pp = 4;
    l.schedule = k.s;
    l.virtual_stages = k.v;
    const Plan p = small_plan(l, 1, 8);  // m = 8 micro-batches
    const cost::StepWork w = uniform_work(p);
    auto j = sim::run_in_child([&] { return sim::to_json(sim::simulate_step(p, w)); }, 60);
    const auto r = sim::sim_result_from_json(j);
    const double ideal = double(w.micro_batches) * double(k.v * w.layers_per_chunk) * 3e-3;
    const double expected = double(l.pp - 1) / double(k.v * w.micro_batches) * ideal;
    ASSERT_EQ(r.ranks.size(), 4u);
    for (const auto& rk : r.ranks) {
      EXPECT_NEAR(rk.compute_s, ideal, 1e-9 + ideal * 1e-6) << to_string(k.s);
      EXPECT_NEAR(rk.bubble_s / expected, 1.0, 0.01) << to_string(k.s) << " rank " << rk.rank;
    }
    EXPECT_NEAR(r.step_time_s / (ideal + expected), 1.0, 0.01) << to_string(k.s);
  }
}

TEST(StepSim, MatchesTheAnalyticalPredictionWithinFivePercentOnKorthikantiCases) {
  std::ifstream f(std::string(PARPLAN_SHARED_DIR) + "/data/published/korthikanti2022.json");
  ASSERT_TRUE(f.good());
  std::stringstream ss;
  ss << f.rdbuf();
  const Cluster cluster = load_cluster("dgx-a100-80g");
  const auto report = cost::validate_published(nlohmann::json::parse(ss.str()), cluster);
  ASSERT_EQ(report.iterations.size(), 8u);
  std::vector<sim::ChildTask> tasks;
  std::vector<std::string> labels;
  for (const auto& c : report.iterations) {
    Plan p;
    p.model = c.model;
    p.cluster = cluster;
    p.training = c.training;
    p.layout = c.layout;
    labels.push_back(c.label);
    tasks.push_back([p] { return sim::to_json(sim::simulate_step(p)); });
  }
  const auto results = sim::run_in_children(tasks, 120, 2);
  for (size_t i = 0; i < results.size(); ++i) {
    ASSERT_FALSE(results[i].contains("error")) << labels[i] << ": " << results[i]["error"];
    const auto r = sim::sim_result_from_json(results[i]);
    ASSERT_GT(r.analytical_step_time_s, 0) << labels[i];
    std::printf("  %-48s simulated %8.3f s  analytical %8.3f s  ratio %.4f  wall %.2f s\n",
                labels[i].c_str(), r.step_time_s, r.analytical_step_time_s,
                r.step_time_s / r.analytical_step_time_s, r.wall_s);
    EXPECT_NEAR(r.step_time_s / r.analytical_step_time_s, 1.0, 0.05)
        << labels[i] << ": simulated " << r.step_time_s << " s, analytical "
        << r.analytical_step_time_s << " s";
  }
}

// GPT-2 124M in Megatron-Core eager is host-bound: the host takes longer to issue a layer's
// kernels and module calls than the GPU takes to run them (floors.cpp). The simulation charges
// the host's excess on the compute stream as the analytical stage time does, so the two agree
// where the floors are most of the step.
TEST(StepSim, AHostBoundPlanChargesTheHostsExcessAsTheAnalyticalPredictionDoes) {
  Layout l;
  l.tp = 2, l.pp = 2, l.dp = 4, l.zero = 1;
  const Plan p = small_plan(l);
  const cost::StepWork w = cost::step_work(p.model, p.cluster, p.training, p.layout);
  const cost::HostExcess hx = cost::layer_host_excess(w);
  ASSERT_GT(hx.total(), w.layer.fwd_s + w.layer.bwd_s) << "the plan is expected host-bound";
  const auto r = sim::simulate_isolated(p, {}, 60);
  EXPECT_NEAR(r.step_time_s / r.analytical_step_time_s, 1.0, 0.05)
      << r.step_time_s << " s simulated, " << r.analytical_step_time_s << " s analytical";
  // Without the excess the simulated step would be the device's alone: far shorter.
  const double excess_s = double(w.micro_batches) * double(p.model.layers) / l.pp * hx.total();
  EXPECT_GT(r.step_time_s, excess_s);
}

TEST(StepSim, TwoSimulationsOfTheSamePlanInOneProcessGiveIdenticalResults) {
  Layout l;
  l.tp = 2, l.pp = 2, l.dp = 4, l.zero = 1;
  const Plan p = small_plan(l);
  const auto a = sim::simulate_isolated(p, {}, 60);
  const auto b = sim::simulate_isolated(p, {}, 60);
  EXPECT_GT(a.step_time_s, 0);
  EXPECT_EQ(a.step_time_s, b.step_time_s);
  ASSERT_EQ(a.ranks.size(), b.ranks.size());
  for (size_t i = 0; i < a.ranks.size(); ++i) EXPECT_EQ(a.ranks[i].dp_s, b.ranks[i].dp_s);
}

TEST(StepSim, OneReplicaPlusDpTrafficEqualsSimulatingEveryReplica) {
  for (int zero : {0, 1, 2}) {
    Layout l;
    l.tp = 2, l.pp = 2, l.dp = 4, l.zero = zero;
    const Plan p = small_plan(l);
    sim::SimOptions all;
    all.aggregate_replicas = false;
    const auto agg = sim::simulate_isolated(p, {}, 60);
    const auto full = sim::simulate_isolated(p, all, 60);
    // Replica 0's TP lane 0 of each stage: the DP groups' rings share the TP groups' NVLink
    // ports, so the TP-lane representative stands for lane 1 (docs/simulation.md).
    EXPECT_EQ(agg.simulated_gpus, 2);
    EXPECT_EQ(full.simulated_gpus, 16);
    EXPECT_NEAR(agg.step_time_s / full.step_time_s, 1.0, 0.005) << "zero " << zero;
  }
}

TEST(StepSim, ChunkAndLayerGranularityAgreeWithoutContention) {
  Layout l;
  l.tp = 4, l.pp = 2, l.sequence_parallel = true;
  const Plan p = small_plan(l, 1);
  sim::SimOptions chunk, layer;
  chunk.granularity = sim::Granularity::Chunk;
  layer.granularity = sim::Granularity::Layer;
  const auto a = sim::simulate_isolated(p, chunk, 60);
  const auto b = sim::simulate_isolated(p, layer, 60);
  EXPECT_NEAR(a.step_time_s / b.step_time_s, 1.0, 0.005);
  EXPECT_LT(a.events, b.events);
}

TEST(StepSim, ContextParallelAndZero3PlansRun) {
  Layout l;
  l.tp = 2, l.cp = 2, l.dp = 2, l.zero = 3;
  const Plan p = small_plan(l, 1);
  const auto r = sim::simulate_isolated(p, {}, 60);
  EXPECT_GT(r.step_time_s, 0);
  ASSERT_EQ(r.ranks.size(), 4u);  // TP lane 0 of both replicas (TP-lane representative)
  EXPECT_GT(r.ranks[0].dp_s + r.ranks[0].cp_s, 0);
}

TEST(StepSim, TraceHasOneTrackPerGpuAndLinkClassCounters) {
  Layout l;
  l.tp = 2, l.pp = 2, l.dp = 4;
  const Plan p = small_plan(l);
  sim::SimOptions o;
  o.trace = true;
  const auto r = sim::simulate_isolated(p, o, 60);
  ASSERT_TRUE(r.trace.contains("traceEvents"));
  std::set<int64_t> gpus;
  std::set<std::string> counters;
  for (const auto& e : r.trace["traceEvents"]) {
    if (e["ph"] == "X") gpus.insert(e["tid"].get<int64_t>());
    if (e["ph"] == "C") counters.insert(e["name"].get<std::string>());
  }
  EXPECT_EQ(gpus.size(), 2u);  // replica 0's TP lane 0 of each stage
  EXPECT_TRUE(counters.count("inter-node flows"));
  EXPECT_TRUE(counters.count("intra-node flows"));
}

TEST(StepSim, RejectsPlansThatDoNotFitTheCluster) {
  Layout l;
  l.tp = 4, l.pp = 8;
  Plan p = small_plan(l, 2);  // 32 GPUs on a 16-GPU cluster
  EXPECT_THROW(sim::simulate_isolated(p, {}, 60), Error);
  l.pp = 4;
  p = small_plan(l, 2);
  p.cluster.inter.nic_bytes_per_s = 0;
  try {
    sim::simulate_isolated(p, {}, 60);
    FAIL() << "zero NIC bandwidth must be rejected";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("nic_GBps"), std::string::npos) << e.what();
  }
}
