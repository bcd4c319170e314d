// Host overheads (cost/host_overhead.cpp): per-operator and per-call fixed costs.
#include <gtest/gtest.h>

#include "parplan/cost/collectives.hpp"
#include "parplan/cost/compute.hpp"
#include "parplan/cost/host_overhead.hpp"
#include "parplan/cost/step.hpp"
#include "test_inputs.hpp"

using namespace parplan;
using namespace parplan::cost;

namespace {
Model small_gpt() {  // runtime/scripts/measure_layouts.sh's model
  Model m;
  m.name = "small";
  m.layers = 4, m.hidden = 128, m.heads = 4, m.kv_heads = 4, m.ffn_hidden = 512, m.vocab = 65;
  m.max_seq_len = 64;
  return m;
}
Training small_train() {
  Training t;
  t.global_batch = 16, t.seq_len = 64, t.dtype = DType::FP32;
  t.flash_attention = false;
  t.framework = "parplan-runtime";  // its operator inventory (examples/frameworks/)
  return t;
}
Cluster host(double op_us, double coll_us, double p2p_us) {
  Cluster c = load_cluster("cpu-host");
  c.gpu.op_overhead_s = op_us * 1e-6;
  c.intra.call_overhead_s = {coll_us * 1e-6, coll_us * 1e-6, coll_us * 1e-6, p2p_us * 1e-6};
  return c;
}
}  // namespace

TEST(HostOverhead, CountsTheOperatorsOfAnEagerLayer) {
  Model m = small_gpt();
  const Training t = small_train();
  Layout l;
  // 2 norms + 6 linears + 2 bias adds + 6 attention-core ops + 1 head merge + GELU + 2 adds.
  EXPECT_DOUBLE_EQ(layer_ops(m, t, l).dense_fwd, 20.0);
  EXPECT_DOUBLE_EQ(layer_ops(m, t, l).bwd(), 40.0);
  l.tp = 2;
  EXPECT_DOUBLE_EQ(layer_ops(m, t, l).fwd, 24.0);  // + the 4 TP autograd functions
  l.sequence_parallel = true;
  EXPECT_DOUBLE_EQ(layer_ops(m, t, l).fwd, 25.0);  // + the SP gradient sum
  Layout cp;
  cp.cp = 2;
  // 20 - 6 (core) + 9 x 2 blocks + 1 shift + 1 stack + 3 merge + 4 x 2 blocks = 45.
  EXPECT_DOUBLE_EQ(layer_ops(m, t, cp).fwd, 45.0);
  // The runtime's Llama-style layer (measure_layouts.sh PARPLAN_MODEL=llama): 7 linears, no bias
  // adds, SiLU and the gate product, + 2 x 5 for RMSNorm, + 10 rotary, + 2 GQA copies = 42.
  Model llama = m;
  llama.gated_mlp = true, llama.norm = Norm::RMSNorm, llama.position = Position::Rotary;
  llama.linear_bias = llama.qkv_bias = llama.norm_bias = false;
  llama.kv_heads = 2;
  EXPECT_DOUBLE_EQ(layer_ops(llama, t, Layout{}).dense_fwd, 42.0);
}

TEST(HostOverhead, AddsOpsTimesOverheadToEveryLayerPass) {
  const Model m = small_gpt();
  const Training t = small_train();
  Layout l;
  l.micro_batch = 4;
  const LayerCompute none = layer_compute(m, host(0, 0, 0), t, l);
  const LayerCompute with = layer_compute(m, host(5, 0, 0), t, l);
  EXPECT_NEAR(with.fwd_s - none.fwd_s, 20 * 5e-6, 1e-12);  // 20 operators x 5 us
  EXPECT_NEAR(with.bwd_s - none.bwd_s, 40 * 5e-6, 1e-12);
  // The step: 4 layers x 4 micro-batches x 60 operators, embedding 3 x 4 and head 3 x 6 per
  // micro-batch: (960 + 48 + 72) x 5 us = 5.4 ms more.
  const double d = predict_unchecked(m, host(5, 0, 0), t, l).step_time_s -
                   predict_unchecked(m, host(0, 0, 0), t, l).step_time_s;
  EXPECT_NEAR(d, 1080 * 5e-6, 1e-9);
}

TEST(HostOverhead, AddsAFixedCostPerCall) {
  const Cluster c0 = host(0, 0, 0), c1 = host(0, 800, 300);
  const Group two{2, 2, 2};
  for (Collective op : {Collective::AllReduce, Collective::AllGather, Collective::ReduceScatter})
    EXPECT_NEAR(collective_time(op, 131072, two, c1) - collective_time(op, 131072, two, c0), 800e-6, 1e-12);
  EXPECT_NEAR(collective_time(Collective::SendRecv, 131072, two, c1) -
                  collective_time(Collective::SendRecv, 131072, two, c0), 300e-6, 1e-12);
  const Group four{4, 4, 4};  // an all-to-all exchanges with each of the 3 peers
  EXPECT_NEAR(collective_time(Collective::AllToAll, 131072, four, c1) -
                  collective_time(Collective::AllToAll, 131072, four, c0), 900e-6, 1e-12);
  Cluster c2 = c0;  // each operation has its own figure
  c2.intra.call_overhead_s.all_gather = 100e-6;
  EXPECT_NEAR(collective_time(Collective::AllGather, 131072, two, c2) -
                  collective_time(Collective::AllGather, 131072, two, c0), 100e-6, 1e-12);
  EXPECT_EQ(collective_time(Collective::ReduceScatter, 131072, two, c2),
            collective_time(Collective::ReduceScatter, 131072, two, c0));
  const Group one{1, 1, 2};
  EXPECT_EQ(collective_time(Collective::AllReduce, 131072, one, c1), 0.0);
  // TP = 2: 4 all-reduces per layer and micro-batch, 4 layers, 4 micro-batches, and the step's
  // loss all-reduce (parplan-runtime.json loss_all_reduce): 65 x 0.8 ms.
  const Model m = small_gpt();
  const Training t = small_train();
  Layout l;
  l.tp = 2, l.micro_batch = 4;
  const double d = predict_unchecked(m, c1, t, l).step_time_s - predict_unchecked(m, c0, t, l).step_time_s;
  EXPECT_NEAR(d, 65 * 800e-6, 1e-9);
}

TEST(HostOverhead, EverySynchronisingCallPaysTheLateRanksExpectedWait) {
  // intra_node.call_overhead_us.sync_wait: the mean − median of a blocking call between compute
  // (a rank stalled now and then, waited for by the other), added to every call's fixed cost.
  const Cluster c0 = host(0, 800, 300);
  Cluster c1 = c0;
  c1.intra.call_overhead_s.sync_wait = 350e-6;
  const Group two{2, 2, 2}, four{4, 4, 4};
  for (Collective op : {Collective::AllReduce, Collective::AllGather, Collective::ReduceScatter,
                        Collective::SendRecv})
    EXPECT_NEAR(collective_time(op, 131072, two, c1) - collective_time(op, 131072, two, c0), 350e-6,
                1e-12);
  // An all-to-all: a send/recv with each of the 3 peers, each waiting.
  EXPECT_NEAR(collective_time(Collective::AllToAll, 131072, four, c1) -
                  collective_time(Collective::AllToAll, 131072, four, c0), 3 * 350e-6, 1e-12);
  const Group one{1, 1, 2};  // no peer, no wait
  EXPECT_EQ(collective_time(Collective::AllReduce, 131072, one, c1), 0.0);
  // TP = 2: the 64 all-reduces of a step (4 per layer and micro-batch) and the loss's each wait;
  // one rank alone does not.
  const Model m = small_gpt();
  const Training t = small_train();
  Layout l;
  l.micro_batch = 4;
  EXPECT_EQ(predict_unchecked(m, c1, t, l).step_time_s, predict_unchecked(m, c0, t, l).step_time_s);
  l.tp = 2;
  EXPECT_NEAR(predict_unchecked(m, c1, t, l).step_time_s - predict_unchecked(m, c0, t, l).step_time_s,
              65 * 350e-6, 1e-9);
  // The cluster file carries it (in microseconds) and reads it back; GPU presets have none.
  Diagnostics d;
  const nlohmann::json j = to_json(c1);
  EXPECT_NEAR(j["intra_node"]["call_overhead_us"]["sync_wait"].get<double>(), 350.0, 1e-9);
  EXPECT_NEAR(cluster_from_json(j, d).intra.call_overhead_s.sync_wait, 350e-6, 1e-15);
  EXPECT_TRUE(d.ok());
  EXPECT_FALSE(to_json(c0)["intra_node"]["call_overhead_us"].contains("sync_wait"));
  EXPECT_EQ(test::a100().intra.call_overhead_s.sync_wait, 0.0);
}

TEST(HostOverhead, GpuPresetsHaveNone) {
  const Cluster a = test::a100();
  EXPECT_EQ(a.gpu.op_overhead_s, 0.0);
  EXPECT_EQ(a.intra.call_overhead_s.all_reduce, 0.0);
  EXPECT_EQ(a.intra.call_overhead_s.send_recv, 0.0);
}

TEST(HostOverhead, DpCollectivesIssuedDuringComputePayTheConcurrentCostPerCall) {
  // intra_node.call_overhead_us.concurrent: each DP collective the communication thread issues
  // while compute runs. Batch 16 / (dp 2 x micro-batch 4) = 2 micro-batches; megatron-core's
  // 40M-element bucket holds the small GPT whole (one reduction per pass); 4 layers.
  const Model m = small_gpt();
  Training t = small_train();
  t.framework = "megatron-core";
  const Cluster c0 = host(0, 0, 0);
  Cluster c1 = c0;
  c1.intra.call_overhead_s.concurrent = 2e-3;
  auto extra = [&](int dp, int zero) {
    Layout l;
    l.dp = dp, l.micro_batch = 4, l.zero = zero;
    return predict_unchecked(m, c1, t, l).step_time_s - predict_unchecked(m, c0, t, l).step_time_s;
  };
  EXPECT_EQ(extra(1, 0), 0.0);                // no DP, no DP collective
  EXPECT_NEAR(extra(2, 0), 1 * 2e-3, 1e-9);   // one all-reduce
  EXPECT_NEAR(extra(2, 1), 2 * 2e-3, 1e-9);   // reduce-scatter + the parameters' all-gather
  EXPECT_NEAR(extra(2, 2), 3 * 2e-3, 1e-9);   // a reduce-scatter per micro-batch + all-gather
  // ZeRO-3: per micro-batch one reduce-scatter and a gather per layer in forward and backward.
  EXPECT_NEAR(extra(2, 3), 2 * (1 + 4 * 2) * 2e-3, 1e-9);
  // GPU presets have none.
  EXPECT_EQ(test::a100().intra.call_overhead_s.concurrent, 0.0);
}

TEST(HostOverhead, TheRuntimeAllReducesTheLossOncePerStep) {
  // examples/frameworks/parplan-runtime.json "loss_all_reduce": trainer.cpp's world_sum of the
  // loss, 8 bytes over every rank, blocking, inside the timed step: one all-reduce's fixed cost
  // and wait, as "launch and latency"; a single rank has none, megatron-core's file none.
  const Model m = small_gpt();
  Training t = small_train();
  const Cluster c0 = host(0, 0, 0), c1 = host(0, 800, 300);
  Layout l;
  l.micro_batch = 4;
  EXPECT_EQ(predict_unchecked(m, c1, t, l).time.launch_latency, 0.0);
  l.dp = 2;
  const double with = predict_unchecked(m, c1, t, l).time.launch_latency;
  EXPECT_NEAR(with, collective_time(Collective::AllReduce, 8.0, Group{2, 2, 1}, c1), 1e-15);
  EXPECT_NEAR(with - predict_unchecked(m, c0, t, l).time.launch_latency, 800e-6, 1e-12);
  l.dp = 1, l.cp = 2;  // over the world, whatever the layout
  EXPECT_NEAR(predict_unchecked(m, c1, t, l).time.launch_latency, with, 1e-15);
  t.framework = "megatron-core";
  l.cp = 1, l.dp = 2;
  EXPECT_EQ(predict_unchecked(m, c1, t, l).time.launch_latency, 0.0);
}

TEST(HostOverhead, TheRuntimeReducesEveryLayerUnitFromZeroTwoOn) {
  // examples/frameworks/parplan-runtime.json "grad_reduce": ZeRO-0/1 buckets of 1M elements
  // (the small GPT's 0.8M parameters: one), ZeRO-2/3 one reduction per unit — the 4 blocks, the
  // embedding and the head — in every micro-batch (runtime/src/zero.cpp).
  const Model m = small_gpt();
  const Training t = small_train();
  const Cluster c0 = host(0, 0, 0);
  Cluster c1 = c0;
  c1.intra.call_overhead_s.concurrent = 2e-3;
  auto extra = [&](int zero) {
    Layout l;
    l.dp = 2, l.micro_batch = 4, l.zero = zero;
    return predict_unchecked(m, c1, t, l).step_time_s - predict_unchecked(m, c0, t, l).step_time_s;
  };
  EXPECT_NEAR(extra(0), 1 * 2e-3, 1e-9);
  EXPECT_NEAR(extra(1), 2 * 2e-3, 1e-9);
  EXPECT_NEAR(extra(2), (2 * 6 + 1) * 2e-3, 1e-9);  // 6 units x 2 micro-batches + all-gather
  EXPECT_NEAR(extra(3), 2 * (6 + 4 * 2) * 2e-3, 1e-9);
}

TEST(HostOverhead, TheRuntimeAllReducesGradientsOverTheContextParallelGroup) {
  // CP ranks hold partial gradients of every weight: the runtime all-reduces them over dp x cp
  // (trainer.cpp 'dp_cp'), priced as the DP reduction; megatron-core's file leaves it out.
  const Model m = small_gpt();
  Training t = small_train();
  Layout l;
  l.cp = 2, l.micro_batch = 4;
  const Cluster c = host(5, 800, 300);
  const StepCost runtime = predict_unchecked(m, c, t, l);
  EXPECT_GT(runtime.time.dp_comm_total, 800e-6);  // one all-reduce call at least
  t.framework = "megatron-core";
  EXPECT_EQ(predict_unchecked(m, c, t, l).time.dp_comm_total, 0.0);
  // A framework without an operator inventory ("eager_ops") is charged no per-operator cost.
  EXPECT_EQ(layer_ops(m, t, l).fwd, 0.0);
}
