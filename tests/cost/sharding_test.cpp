// HSDP sharding groups and memory-centric tiling: memory and communication.
#include <gtest/gtest.h>

#include <cmath>

#include "parplan/cost/sharding.hpp"
#include "parplan/cost/step.hpp"
#include "parplan/model/io.hpp"
#include "test_inputs.hpp"

using namespace parplan;
using namespace parplan::cost;

namespace {
double states(const MemoryBreakdown& m) { return m.params + m.grads + m.optimizer; }
Layout hsdp(int32_t dp, int32_t zero, int32_t shard_group, int32_t cp = 1) {
  Layout l{.dp = dp, .tp = 1, .pp = 1, .zero = zero, .recompute = Recompute::Full};
  l.shard_group = shard_group;
  l.cp = cp;
  return l;
}

// What every test here starts from: a Llama 2 model on DGX A100 nodes (8 GPUs each) with GPT-3's
// training preset (bf16, Adam); a test may switch the framework.
class Llama2OnA100 : public ::testing::Test {
 protected:
  explicit Llama2OnA100(const char* model = "llama2-7b") : m(load_model(model)) {}
  const Model m;
  const Cluster c = load_cluster("dgx-a100-80g");
  Training t = load_training("gpt3-1536");
  const double psi = count_params(m).total;
  const StateBytes sb = state_bytes_per_param(t);  // the framework does not change it
  const double all_states = (sb.params + sb.grads + sb.optimizer) * psi;
};
class Hsdp : public Llama2OnA100 {};
class ZeroOverContextParallel : public Llama2OnA100 {};
class Tiling : public Llama2OnA100 {
 protected:
  Tiling() : Llama2OnA100("llama2-70b") {}
};
}  // namespace

TEST_F(Hsdp, MemoryLiesBetweenZero3AndZero0AndEqualsEachAtItsExtremes) {
  // Llama 2 7B on 64 GPUs (8 nodes of 8): shard groups of 1, 8 (a node) and 64 (all).
  const MemoryBreakdown z0 = memory_per_gpu(m, c, t, hsdp(64, 0, 0));
  const MemoryBreakdown z3 = memory_per_gpu(m, c, t, hsdp(64, 3, 0));
  const MemoryBreakdown g1 = memory_per_gpu(m, c, t, hsdp(64, 3, 1));
  const MemoryBreakdown g8 = memory_per_gpu(m, c, t, hsdp(64, 3, 8));
  const MemoryBreakdown g64 = memory_per_gpu(m, c, t, hsdp(64, 3, 64));
  EXPECT_DOUBLE_EQ(g1.total, z0.total);
  EXPECT_DOUBLE_EQ(g64.total, z3.total);
  EXPECT_LT(g8.total, z0.total);
  EXPECT_GT(g8.total, z3.total);
  // By hand: 16 bytes of state per parameter, sharded over the 8 ranks of a group.
  EXPECT_NEAR(states(g8) / (16 * psi / 8), 1.0, 1e-12);
}

TEST_F(Hsdp, GroupsSitInsideANodeAndReplicateAcrossNodes) {
  const ShardGroups g = shard_groups(hsdp(64, 3, 8), c, t);
  EXPECT_EQ(g.shard.size, 8);
  EXPECT_FALSE(g.shard.spans_nodes());
  EXPECT_EQ(g.replica.size, 8);
  EXPECT_EQ(g.replica.per_node, 1);
  const ShardGroups full = shard_groups(hsdp(64, 3, 0), c, t);
  EXPECT_EQ(full.shard.size, 64);
  EXPECT_EQ(full.replica.size, 1);
}

TEST_F(Hsdp, NodeShardedGathersRunOnNvlinkAndGradientsCrossNodesOnce) {
  // Llama 2 7B, 32 layers: one layer's 16-bit parameters all-gathered inside the node is a ring
  // of 8 on NVSwitch: 7 latencies + 7/8 of the bytes at the intra-node rate.
  const StepWork g8 = step_work(m, c, t, hsdp(64, 3, 8));
  const StepWork full = step_work(m, c, t, hsdp(64, 3, 0));
  const double layer_bytes = count_params(m).per_layer * 2;
  const double bw = c.intra.bandwidth_bytes_per_s * c.efficiency.intra_node_link;
  // NCCL's per-protocol base latencies (cost/src/nccl.cpp, from NCCL's tuning.cc) add < 1%.
  EXPECT_NEAR(g8.zero3_layer_gather_s / (7 * c.intra.latency_s + 7.0 / 8 * layer_bytes / bw), 1.0,
              0.01);
  EXPECT_LT(g8.zero3_layer_gather_s, full.zero3_layer_gather_s);
  // Gradients, in megatron-core's 40M-element buckets (examples/frameworks/megatron-core.json):
  // each bucket reduce-scattered in the node, then its 1/8 shard all-reduced across the 8 nodes.
  const double units = std::ceil(psi / 40e6);
  EXPECT_DOUBLE_EQ(g8.dp_grad_bytes, psi * sb.grads);
  const Group nodes{8, 1, c.gpus_per_node};
  const Group node{8, 8, c.gpus_per_node};
  const double bucket = psi * sb.grads / units;
  EXPECT_NEAR(g8.dp_reduce_s /
                  (units * (collective_time(Collective::ReduceScatter, bucket, node, c) +
                            collective_time(Collective::AllReduce, bucket / 8, nodes, c))),
              1.0, 1e-12);
  // ZeRO-3's gathers move each layer over the 64 ranks across nodes: slower than HSDP's in-node
  // gathers, while HSDP's gradient all-reduce moves twice the shard across nodes.
  EXPECT_GT(full.zero3_layer_gather_s, 2 * g8.zero3_layer_gather_s);
}

// ZeRO over DP x CP where the framework says so (grad_reduce.over_context_parallel: Megatron-Core's
// intra_dp_cp_group, torchtitan's dp_shard_cp mesh); a file without the key shards over DP only.
TEST_F(ZeroOverContextParallel, ZeroOneShardsTheOptimizerOverDpTimesCpForMegatronCore) {
  // Llama 2 7B on one node of 8: dp 4 x cp 2, ZeRO-1.
  t.framework = "megatron-core";
  const Layout l = hsdp(4, 1, 0, 2);
  const MemoryBreakdown mc = memory_per_gpu(m, c, t, l);
  EXPECT_NEAR(mc.optimizer / (sb.optimizer * psi / 8), 1.0, 1e-12);  // dp x cp = 8 shards
  EXPECT_NEAR(mc.grads / (sb.grads * psi), 1.0, 1e-12);              // ZeRO-1: grads whole
  // The gradients reduce-scattered and the parameters all-gathered over the 8 ranks of the node
  // (tp 1 apart), in megatron-core's 40M-element buckets.
  const StepWork w = step_work(m, c, t, l);
  const Group dpcp{8, 8, c.gpus_per_node};
  const double units = std::ceil(psi / 40e6), bucket = psi * sb.grads / units;
  EXPECT_NEAR(w.dp_reduce_s / (units * collective_time(Collective::ReduceScatter, bucket, dpcp, c)),
              1.0, 1e-12);
  EXPECT_NEAR(
      w.dp_param_gather_s / collective_time(Collective::AllGather, w.dp_param_bytes, dpcp, c),
      1.0, 1e-12);

  // The same framework without the key: the optimizer over dp = 4, the collectives over the 4
  // DP ranks (cp 2 apart).
  t.framework = test::framework_without_cp_key("megatron-core");
  const MemoryBreakdown dp_only = memory_per_gpu(m, c, t, l);
  EXPECT_NEAR(dp_only.optimizer / (sb.optimizer * psi / 4), 1.0, 1e-12);
  EXPECT_NEAR(step_work(m, c, t, l).dp_reduce_s /
                  (units * collective_time(Collective::ReduceScatter, bucket,
                                           Group{4, 4, c.gpus_per_node}, c)),
              1.0, 1e-12);
}

TEST_F(ZeroOverContextParallel, HybridShardGroupsAreShardGroupTimesCp) {
  // FSDP2 (torchtitan: ('dp_replicate', 'dp_shard_cp')) on 2 nodes: dp 8 x cp 2, shard groups of
  // 4 DP ranks = 8 ranks with their CP peers, a node each; 2 replicas across the nodes.
  t.framework = "fsdp2";
  const Layout l = hsdp(8, 3, 4, 2);
  const ShardGroups g = shard_groups(l, c, t);
  EXPECT_EQ(g.shard.size, 8);
  EXPECT_FALSE(g.shard.spans_nodes());
  EXPECT_EQ(g.replica.size, 2);
  EXPECT_EQ(g.replica.per_node, 1);
  EXPECT_NEAR(states(memory_per_gpu(m, c, t, l)) / (all_states / 8), 1.0, 1e-12);
  t.framework = test::framework_without_cp_key("fsdp2");
  EXPECT_EQ(shard_groups(l, c, t).shard.size, 4);
  EXPECT_NEAR(states(memory_per_gpu(m, c, t, l)) / (all_states / 4), 1.0, 1e-12);
}

TEST_F(ZeroOverContextParallel, FsdpWithContextParallelAloneShardsOverCp) {
  // torchtitan's long-context rows run dp 1 x cp 8 with FSDP: the states split 8 ways, and the
  // gradients reduce-scattered over the CP ranks; over DP only nothing would be sharded or reduced.
  t.framework = "fsdp2";
  const Layout l = hsdp(1, 3, 0, 8);
  EXPECT_NEAR(states(memory_per_gpu(m, c, t, l)) / (all_states / 8), 1.0, 1e-12);
  EXPECT_GT(predict_unchecked(m, c, t, l).time.dp_comm_total, 0.0);
  t.framework = test::framework_without_cp_key("fsdp2");
  EXPECT_NEAR(states(memory_per_gpu(m, c, t, l)) / all_states, 1.0, 1e-12);
  EXPECT_EQ(predict_unchecked(m, c, t, l).time.dp_comm_total, 0.0);
}

TEST_F(Tiling, ATiledLayersPeakMemoryFallsWithTheTileCount) {
  // ZeRO-3 keeps two gathered layers (current + prefetched); tiling gathers one tile at a time.
  Layout l = hsdp(8, 3, 0);
  const double one = memory_per_gpu(m, c, t, l).gathered_layers;
  // By hand: 2 layers * per-layer parameters * 2 bytes.
  EXPECT_DOUBLE_EQ(one, 2 * count_params(m).per_layer * 2);
  double prev = memory_per_gpu(m, c, t, l).total;
  for (int32_t k : {2, 4, 8, 16}) {
    l.tiles = k;
    const MemoryBreakdown mem = memory_per_gpu(m, c, t, l);
    EXPECT_DOUBLE_EQ(mem.gathered_layers, one / k);
    EXPECT_LT(mem.total, prev) << k << " tiles";
    prev = mem.total;
  }
}

TEST_F(Tiling, TilesRunOneAfterAnotherAtASmallEfficiencyLoss) {
  Layout l = hsdp(8, 3, 0);
  const double base = layer_compute(m, c, t, l).fwd_matmul_s;
  l.tiles = 4;
  const double tiled = layer_compute(m, c, t, l).fwd_matmul_s;
  EXPECT_GT(tiled, base);
  EXPECT_LT(tiled, 1.05 * base);  // 8192 / 4 columns still fill the tensor cores
}
