// Context parallelism in the step simulation: ring attention, DeepSpeed Ulysses and USP
// (issue 14) against the analytical step, where their bytes travel, and USP's extremes.
#include <gtest/gtest.h>

#include <cstdio>

#include "../support/preset_plan.hpp"
#include "parplan/cost/context_parallel.hpp"
#include "parplan/sim/step_sim.hpp"
#include "parplan/sim/worker.hpp"

using namespace parplan;

namespace {

// Llama 3 8B cut to 4 layers (32 heads, 8 KV heads), 32K tokens per sequence, DGX H100 nodes.
Plan cp_plan(int32_t cp, CpKind kind, int32_t ulysses, int32_t dp) {
  Plan p = test::preset_plan(
      "llama3-8b", "dgx-h100-80g",
      R"({"global_batch": )" + std::to_string(2 * dp) + R"(, "seq_len": 32768, "dtype": "bf16"})",
      {.dp = dp, .cp = cp, .micro_batch = 1, .cp_kind = kind, .ulysses = ulysses});
  p.model.layers = 4;
  p.cluster.nodes = 2;
  return p;
}

sim::SimResult simulate(const Plan& p) {
  auto j = sim::run_in_child([&] { return sim::to_json(sim::simulate_step(p)); }, 60);
  return sim::sim_result_from_json(j);
}

// The same plan with every GPU running its schedule (no replica or lane representative).
sim::SimResult simulate_every_gpu(const Plan& p) {
  const cost::StepWork w = cost::step_work(p.model, p.cluster, p.training, p.layout);
  sim::SimOptions all;
  all.aggregate_replicas = false;
  return sim::sim_result_from_json(
      sim::run_in_child([&] { return sim::to_json(sim::simulate_step(p, w, all)); }, 120));
}

}  // namespace

TEST(StepCp, EachKindMatchesTheAnalyticalStepWithinThreePercent) {
  struct Case {
    const char* name;
    CpKind kind;
    int32_t u;
  };
  for (Case k : {Case{"ring", CpKind::Ring, 0}, Case{"ulysses", CpKind::Ulysses, 0},
                 Case{"usp u=4", CpKind::Usp, 4}}) {
    const Plan p = cp_plan(8, k.kind, k.u, 1);
    const auto r = simulate(p);
    double cp_s = 0;
    for (const auto& rk : r.ranks) cp_s = std::max(cp_s, rk.cp_s);
    std::printf("cp 8 %-8s simulated %.4f s, analytical %.4f s (%+.2f%%), cp exposed %.4f s\n",
                k.name, r.step_time_s, r.analytical_step_time_s,
                (r.step_time_s / r.analytical_step_time_s - 1) * 100, cp_s);
    EXPECT_NEAR(r.step_time_s / r.analytical_step_time_s, 1.0, 0.03) << k.name;
    EXPECT_GT(cp_s, 0) << k.name;
  }
}

TEST(StepCp, UlyssesInsideANodeSendsNothingBetweenNodesAndTheBytesTheCostModelCounts) {
  // cp 8 x dp 2 on two nodes: each CP group is one node.
  const Plan p = cp_plan(8, CpKind::Ulysses, 0, 2);
  const auto r = simulate(p);
  EXPECT_EQ(r.cp_inter_node_bytes, 0.0);
  // Bytes by hand: 32768 / 8 = 4096 local tokens; Q and O 4096 hidden (32 heads x 128), K and V
  // 8 KV heads x 128 = 1024 each, repeated to u = 8 heads: unchanged; bf16. Forward Q, K, V, O
  // and backward dO, dQ, dK, dV: each rank sends 7/8 of each buffer; 4 layers, 2 micro-batches
  // (global batch 4 over dp 2), 8 simulated ranks of one replica (replica 1 runs its DP
  // traffic only).
  const double T = 4096, e = 2;
  const double per_layer = 2 * 7.0 / 8 * T * e * (4096 + 4096 + 1024 + 1024);
  const auto w = cost::context_parallel_work(p.model, p.cluster, p.training, p.layout,
                                             cost::step_work(p.model, p.cluster, p.training,
                                                             p.layout).layer);
  EXPECT_NEAR(w.fwd_bytes + w.bwd_bytes, per_layer, 1.0);
  EXPECT_NEAR(r.cp_intra_node_bytes, 8 * 4 * 2 * per_layer, 8.0 * 4 * 2 * 64);
}

TEST(StepCp, UspAtItsExtremesIsRingOrUlyssesAndAcrossNodesOnlyTheRingLeavesANode) {
  // cp 16 on two nodes.
  const auto ring = simulate(cp_plan(16, CpKind::Ring, 0, 1));
  const auto usp1 = simulate(cp_plan(16, CpKind::Usp, 1, 1));
  const auto uly = simulate(cp_plan(16, CpKind::Ulysses, 0, 1));
  const auto usp16 = simulate(cp_plan(16, CpKind::Usp, 16, 1));
  const auto usp8 = simulate(cp_plan(16, CpKind::Usp, 8, 1));
  std::printf("cp 16: ring %.4f s, usp u=1 %.4f s, ulysses %.4f s, usp u=16 %.4f s, usp u=8 %.4f s"
              " (analytical %.4f / %.4f / %.4f)\n",
              ring.step_time_s, usp1.step_time_s, uly.step_time_s, usp16.step_time_s,
              usp8.step_time_s, ring.analytical_step_time_s, uly.analytical_step_time_s,
              usp8.analytical_step_time_s);
  EXPECT_DOUBLE_EQ(usp1.step_time_s, ring.step_time_s);
  EXPECT_DOUBLE_EQ(usp1.cp_inter_node_bytes, ring.cp_inter_node_bytes);
  EXPECT_DOUBLE_EQ(usp16.step_time_s, uly.step_time_s);
  EXPECT_DOUBLE_EQ(usp16.cp_inter_node_bytes, uly.cp_inter_node_bytes);
  // USP u = 8: Ulysses inside each node, a two-rank ring across; per rank and layer the ring
  // sends its K, V block (32768 / 16 = 2048 local tokens x (1024 + 1024) x 2 bytes) once
  // forward and K, V + dK, dV once backward: 3 x 8 MiB per rank, layer and micro-batch; 16 ranks,
  // 4 layers, 2 micro-batches.
  const double block = 2048.0 * 2048 * 2;
  EXPECT_NEAR(usp8.cp_inter_node_bytes, 3 * block * 16 * 4 * 2, 16 * 4 * 2 * 64.0);
  EXPECT_GT(uly.cp_inter_node_bytes, usp8.cp_inter_node_bytes);
  for (const auto* r : {&ring, &uly, &usp8})
    EXPECT_NEAR(r->step_time_s / r->analytical_step_time_s, 1.0, 0.05);
}

TEST(StepCp, TpCpInsideNvlinkZonesRunsOneTpLaneAndEqualsEveryGpuRunning) {
  // GB200 NVL72 cut to 16-GPU zones (2 zones): Llama 3 8B cut to 8 layers, 8K tokens, tp 4 x
  // cp 2 (ring) x dp 2 x pp 2 interleaved (v = 2), sequence parallel, as `plan` lays Llama 3
  // 405B on NVL72. CP and DP flows share the TP groups' NVLink ports (no closed-form TP), but
  // every TP lane uses its own ports and NIC: TP lane 0 of replica 0 runs (4 GPUs), its TP
  // collectives as their groups' representatives (Comms::lane_symmetric). Sequence parallel:
  // ring all-gathers / reduce-scatters; without it: NVLS all-reduces (the cost model's choice).
  for (bool sp : {true, false}) {
  Plan p = test::preset_plan("llama3-8b", "gb200-nvl72",
                             R"({"global_batch": 8, "seq_len": 8192, "dtype": "bf16"})",
                             {.dp = 2, .tp = 4, .pp = 2, .cp = 2, .micro_batch = 1, .zero = 1,
                              .sequence_parallel = sp, .schedule = Schedule::Interleaved,
                              .virtual_stages = 2});
  p.model.layers = 8;
  p.cluster.nvlink_domain_segment_gpus = 16;
  const auto one = simulate(p);
  const auto every = simulate_every_gpu(p);
  const auto& a = one.ranks[0];
  const auto& b = every.ranks[0];
  std::printf("NVL72 tp 4 cp 2 sp %d: %lld GPUs simulated, step %.6f s (every GPU: %lld, %.6f s); "
              "rank 0 tp %.6f / %.6f s, cp %.6f / %.6f s, dp %.6f / %.6f s, pp %.6f / %.6f s\n",
              int(sp), static_cast<long long>(one.simulated_gpus), one.step_time_s,
              static_cast<long long>(every.simulated_gpus), every.step_time_s, a.tp_s, b.tp_s,
              a.cp_s, b.cp_s, a.dp_s, b.dp_s, a.pp_s, b.pp_s);
  EXPECT_EQ(one.simulated_gpus, 4);  // lane 0 of replica 0: 2 stages x cp 2
  EXPECT_EQ(every.simulated_gpus, 32);
  EXPECT_NEAR(one.step_time_s / every.step_time_s, 1.0, 1e-6);
  ASSERT_GT(b.tp_s, 0.0);
  ASSERT_GT(b.cp_s, 0.0);
  EXPECT_NEAR(a.tp_s / b.tp_s, 1.0, 1e-6);
  EXPECT_NEAR(a.cp_s / b.cp_s, 1.0, 1e-6);
  EXPECT_NEAR(a.compute_s / b.compute_s, 1.0, 1e-9);
  EXPECT_NEAR(a.pp_s, b.pp_s, 1e-6 * every.step_time_s);
  EXPECT_NEAR(a.dp_s, b.dp_s, 1e-6 * every.step_time_s);
  // Every lane's CP bytes: lane 0's counted tp times; every replica's when all run (dp 2).
  EXPECT_NEAR(2 * one.cp_intra_node_bytes / every.cp_intra_node_bytes, 1.0, 1e-9);
  }
}

TEST(StepCp, TpLanesOnTheirOwnLinksCountEveryLanesCpBytes) {
  // tp 8 (one DGX H100 node) x cp 2 ring across the two nodes: the TP lanes run on their own
  // NVLink ports and NICs, so only lane 0 is simulated (the closed-form TP shortcut); its CP
  // bytes stand for all 8 lanes', as when every GPU runs.
  Plan p = cp_plan(2, CpKind::Ring, 0, 1);
  p.layout.tp = 8;
  const auto one = simulate(p);
  const auto every = simulate_every_gpu(p);
  EXPECT_LT(one.simulated_gpus, every.simulated_gpus);
  ASSERT_GT(every.cp_inter_node_bytes, 0.0);
  EXPECT_NEAR(one.cp_inter_node_bytes / every.cp_inter_node_bytes, 1.0, 1e-9);
  EXPECT_NEAR(one.step_time_s / every.step_time_s, 1.0, 0.01);
}

TEST(StepCp, TorchCpWithFullRecomputationMatchesTheAnalyticalStepAndItsBytes) {
  // torchtitan's CP (examples/frameworks/fsdp2.json): K, V expanded to 32 heads, dK, dV in fp32,
  // and full recomputation reruns the forward exchange. CP 8 in one node, 4 layers, two
  // micro-batches per step (global batch 2): per layer 7 forward blocks of 4096 tokens x 8192 x
  // 2 bytes, twice (forward and recomputation), and 7 backward blocks of K, V (2 bytes) + dK, dV
  // (4 bytes); 8 ranks, 4 layers, 2 micro-batches.
  Plan p = cp_plan(8, CpKind::Ring, 0, 1);
  p.training.framework = "fsdp2";
  p.training.compile = Switch::On;
  p.layout.recompute = Recompute::Full;
  // FSDP reduces the gradients over the 8 CP ranks (dp_shard_cp): reduced after the backward here,
  // so that they do not share the NVLink ports with the ring (a contention the analytical step
  // does not price) and the step checks the CP exchange alone.
  p.training.overlap_grad_reduce = Switch::Off;
  const auto r = simulate(p);
  std::printf("torch cp 8 full AC: simulated %.4f s, analytical %.4f s (%+.2f%%)\n", r.step_time_s,
              r.analytical_step_time_s, (r.step_time_s / r.analytical_step_time_s - 1) * 100);
  EXPECT_NEAR(r.step_time_s / r.analytical_step_time_s, 1.0, 0.03);
  const double elems = 4096.0 * 8192;
  const double per_layer = 7 * elems * 2 * 2 + 7 * elems * (2 + 4);
  EXPECT_NEAR(r.cp_intra_node_bytes / (8 * 4 * 2 * per_layer), 1.0, 0.01);
  EXPECT_EQ(r.cp_inter_node_bytes, 0.0);
}
