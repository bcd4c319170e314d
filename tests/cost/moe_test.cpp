// Mixture of experts and attention variants in the cost model (cost/src/moe.cpp, attention.cpp).
#include <gtest/gtest.h>

#include <algorithm>

#include "parplan/cost/attention.hpp"
#include "parplan/cost/compute.hpp"
#include "parplan/cost/memory.hpp"
#include "parplan/cost/moe.hpp"
#include "parplan/cost/step.hpp"
#include "parplan/model/io.hpp"

namespace parplan::cost {
namespace {

Model mixtral() { return load_model("mixtral-8x7b"); }
Model deepseek() { return load_model("deepseek-v3"); }
Cluster h100() { return load_cluster("dgx-h100-80g"); }
Training train(int64_t batch = 256, int64_t seq = 4096) {
  Training t;
  t.global_batch = batch;
  t.seq_len = seq;
  return t;
}
Layout layout(int dp, int ep, int tp = 1, int pp = 1) {
  Layout l;
  l.dp = dp;
  l.tp = tp;
  l.pp = pp;
  l.ep = ep;
  l.zero = 1;
  return l;
}

TEST(MoeFlops, OnlyTheActiveExpertsCount) {
  const Model m = mixtral();
  // Per token: 2 of 8 experts (3 * 4096 * 14336 weights each) and the 4096 x 8 router, 2 FLOPs
  // per weight.
  EXPECT_DOUBLE_EQ(moe_mlp_forward_flops(m, 1), 2.0 * (2 * 3.0 * 4096 * 14336 + 4096 * 8));
  Model all = m;
  all.moe.experts_per_token = 8;  // every expert active: the MLP costs 4x
  const double attn = attention_projection_forward_flops(m, 1) + attention_core_forward_flops(m, 1, 4096);
  const double mlp2 = layer_forward_flops(m, 1, 4096) - attn;
  const double mlp8 = layer_forward_flops(all, 1, 4096) - attn;
  EXPECT_NEAR(mlp8 / mlp2, (8 * 3.0 * 4096 * 14336 + 4096 * 8) / (2 * 3.0 * 4096 * 14336 + 4096 * 8),
              1e-12);
  // Model FLOPs per step: 3 x forward of 32 layers + logits; attention projections 2 * 41,943,040
  // per token, scores 2 * 4096 * (4096 + 4096) per token at seq 4096.
  const Training t = train();
  const double tokens = 256.0 * 4096;
  const double per_token = 32 * (2 * 41943040.0 + 2 * 4096.0 * 8192 +
                                 2 * (2 * 3.0 * 4096 * 14336 + 4096 * 8)) +
                           2.0 * 4096 * 32000;
  EXPECT_NEAR(step_flops(m, t, layout(8, 1)).model, 3 * tokens * per_token, 1e-6 * 3 * tokens * per_token);
}

TEST(MoeMemory, ExpertWeightsAndGradientsHalveWhenEpDoubles) {
  const Model m = mixtral();
  const Cluster c = h100();
  const Training t = train();
  // One MoE layer's experts: 8 * 3 * 4096 * 14336; 32 layers; 2-byte weights, 2-byte grads.
  const double experts = 32 * 8 * 3.0 * 4096 * 14336;
  auto mem = [&](int ep) { return memory_per_gpu(m, c, t, layout(8, ep)); };
  const MemoryBreakdown e2 = mem(2), e4 = mem(4), e8 = mem(8);
  EXPECT_DOUBLE_EQ(e2.params - e4.params, experts / 4 * 2);  // experts/2 -> experts/4 on a GPU
  EXPECT_DOUBLE_EQ(e4.params - e8.params, experts / 8 * 2);
  EXPECT_DOUBLE_EQ(e2.grads - e4.grads, experts / 4 * 2);
  // ZeRO-1 shards expert optimizer states over the expert-data-parallel group (dp / ep), so
  // their per-GPU share does not change with ep: 12 bytes * experts / (ep * dp/ep).
  EXPECT_NEAR(e2.optimizer, e8.optimizer, 1e-9 * e2.optimizer);
}

TEST(MoeComm, DispatchBytesByHand) {
  const Model m = mixtral();
  const Cluster c = h100();
  Training t = train();
  const Layout l = layout(8, 8);
  const MoeLayerWork w = moe_layer_work(m, c, t, l);
  // 4096 tokens (seq 4096, micro-batch 1, tp 1) x 2 experts each x 4096 hidden x 2 bytes.
  EXPECT_DOUBLE_EQ(w.dispatch_bytes, 4096.0 * 2 * 4096 * 2);
  EXPECT_DOUBLE_EQ(w.combine_bytes, 4096.0 * 2 * 4096 * 2);
  // EP 8 inside one 8-GPU node: 7/8 of the buffer leaves each GPU over NVLink.
  const double bw = c.intra.bandwidth_bytes_per_s * c.efficiency.intra_node_link;
  EXPECT_NEAR(w.dispatch_s, c.intra.latency_s + 67108864.0 * 7 / 8 / bw, 1e-12);
  // FP8 training dispatches in FP8 (DeepSeek-V3 sec. 3.3.2) and combines in BF16.
  t.dtype = DType::FP8;
  const MoeLayerWork f = moe_layer_work(m, c, t, l);
  EXPECT_DOUBLE_EQ(f.dispatch_bytes, 4096.0 * 2 * 4096 * 1);
  EXPECT_DOUBLE_EQ(f.combine_bytes, 4096.0 * 2 * 4096 * 2);
}

TEST(MoeComm, EpGroupStaysInsideANodeWhileItFits) {
  const Cluster c = h100();  // 8 GPUs per node
  EXPECT_FALSE(ep_group(layout(8, 8), c).spans_nodes());
  EXPECT_TRUE(ep_group(layout(16, 16), c).spans_nodes());  // (group shape only: DeepSeek-size EP)
  Layout l = layout(16, 8);
  l.etp = 2;  // expert ranks: etp fastest, so 4 EP peers per node
  EXPECT_EQ(ep_group(l, c).per_node, 4);
  EXPECT_TRUE(ep_group(l, c).spans_nodes());
  // Across nodes the NIC share is the bottleneck: 16 peers, 8 per node, half the bytes leave.
  const Group g = ep_group(layout(16, 16), c);
  const LinkRates r = link_rates(c, g);
  EXPECT_NEAR(all_to_all_time(1e9, g, c), r.inter_latency_s + 1e9 * 8 / 16 / r.inter_bytes_per_s,
              1e-12);
}

TEST(MoeComm, NodeLimitedRoutingSendsEachTokenOncePerNode) {
  // DeepSeek-V3, EP 64 over 8 nodes of 8 H800: 8 experts per token would touch
  // 8 * (1 - (7/8)^8) = 5.25 nodes; topk_group 4 caps it at 4, and 7/8 of those are remote.
  // FP8 dispatch: 4096 tokens * 4 * 7/8 * 7168 bytes over the GPU's InfiniBand share.
  const Model m = deepseek();
  const Cluster c = load_cluster("h800-2048");
  Training t = train(1024);
  t.dtype = DType::FP8;
  const Layout l = layout(64, 64);
  const Group g = ep_group(l, c);
  const LinkRates r = link_rates(c, g);
  const MoeLayerWork w = moe_layer_work(m, c, t, l);
  const double inter = 4096.0 * 4 * 7 / 8 * 7168 / r.inter_bytes_per_s;
  const double intra = 4096.0 * 8 * 7168 / r.intra_bytes_per_s;
  EXPECT_NEAR(w.dispatch_s, r.inter_latency_s + std::max(inter, intra), 1e-12);
  Model plain = m;
  plain.moe.groups_per_token = 0;  // a plain all-to-all of all 8 copies
  EXPECT_GT(moe_layer_work(plain, c, t, l).dispatch_s, w.dispatch_s);
}

// DeepSeek-V3 (3 dense layers, then 58 MoE) on 16 stages split 3 / 14 x 4 / 2: the dense layers
// are stage 0's, so a middle stage, the slowest, holds 4 MoE layers and runs as an all-MoE
// model's does; the model's average layer (58/61 MoE) would price 5% less of its all-to-alls.
TEST(MoeComm, LoadedStageOfADenseFirstModelHoldsOnlyMoeLayers) {
  const Model m = deepseek();
  ASSERT_EQ(m.moe.first_dense_layers, 3);
  Model all_moe = m;
  all_moe.moe.first_dense_layers = 0;
  const Cluster c = load_cluster("h800-2048");
  Training t = load_training("deepseek-v3-4k");
  t.global_batch = 1024;
  Layout l = layout(64, 64, 1, 16);
  l.recompute = Recompute::Selective;
  l.first_stage_layers = 3;
  l.last_stage_layers = 2;
  const StepCost dense_first = predict(m, c, t, l), moe_only = predict(all_moe, c, t, l);
  EXPECT_GT(dense_first.time.ep_comm, 0.0);
  EXPECT_NEAR(dense_first.time.ep_comm, moe_only.time.ep_comm, 1e-9 * moe_only.time.ep_comm);
  EXPECT_NEAR(dense_first.time.compute, moe_only.time.compute, 1e-9 * moe_only.time.compute);
  EXPECT_NEAR(dense_first.time.launch_latency, moe_only.time.launch_latency,
              1e-9 * moe_only.time.launch_latency);
  // Stage 0 holds the dense layers: with 4 of them there (3 dense + 1 MoE) it is still lighter
  // than a middle stage of 4 MoE layers, so the pace is the same.
  Layout four = l;
  four.first_stage_layers = 4;
  four.last_stage_layers = 1;
  EXPECT_NEAR(predict(m, c, t, four).time.ep_comm, moe_only.time.ep_comm,
              1e-9 * moe_only.time.ep_comm);
}

TEST(MoeComm, OverlapHidesTheAllToAll) {
  const Model m = mixtral();
  const Cluster c = h100();
  Training t = train();
  Layout l = layout(16, 8);
  l.etp = 2;  // EP 8 with etp 2: 4 peers per node, the rest over InfiniBand
  const StepCost plain = predict(m, c, t, l);
  t.moe_a2a_overlap = Switch::On;
  const StepCost hidden = predict(m, c, t, l);
  EXPECT_GT(plain.time.ep_comm, 0);
  EXPECT_LT(hidden.time.ep_comm, plain.time.ep_comm);
  EXPECT_LT(hidden.step_time_s, plain.step_time_s);
}

TEST(MoeLoad, CapacityFactorPadsAndDrops) {
  Model m = mixtral();
  // Wang et al. 2024 (arXiv:2408.15664) Table 2, 3B: MaxVio_global 0.52 -> max/mean 1 + 0.52.
  EXPECT_DOUBLE_EQ(load_imbalance(m), 1.52);  // auxiliary-loss balancing
  EXPECT_DOUBLE_EQ(load_imbalance(deepseek()), 1.04);  // expert-bias balancing: 1 + 0.04
  EXPECT_DOUBLE_EQ(dropped_token_fraction(m), 0.0);   // dropless
  m.moe.capacity_factor = 1.0;
  EXPECT_DOUBLE_EQ(expert_load_factor(m), 1.0);
  // Loads even on [0.48, 1.52]: the share above 1.0 is 0.52^2 / (2 * 1.04) = 0.13.
  EXPECT_NEAR(dropped_token_fraction(m), 0.13, 1e-12);
  m.moe.capacity_factor = 2.0;  // room for all: padded to 2x the mean, nothing dropped
  EXPECT_DOUBLE_EQ(expert_load_factor(m), 2.0);
  EXPECT_DOUBLE_EQ(dropped_token_fraction(m), 0.0);
}

TEST(MoeMemory, Fp8SavesTheExpertGemmInputsInOneByte) {
  // Mixtral: h 4096, expert FFN 14336, top-2; one 4096-token micro-batch. Under FP8 each routed
  // row keeps its permuted input (h) and its activation output (FFN) as FP8 copies: 1 byte
  // instead of 2, so the saved activations fall by rows * (4096 + 14336) bytes.
  Model m = mixtral();
  Training bf16 = train(256, 4096), fp8 = bf16;
  fp8.dtype = DType::FP8;
  const Layout l = layout(8, 8);
  const double rows = 4096.0 * 2.0 * expert_load_factor(m);
  EXPECT_NEAR(moe_mlp_activation_bytes(m, bf16, l) - moe_mlp_activation_bytes(m, fp8, l),
              rows * (4096.0 + 14336.0), 1.0);
}

TEST(MoeGemm, SmallExpertGemmsRunLessEfficiently) {
  // DeepSeek-V3 at 4096 tokens per GPU: with ep 1 each of 256 experts gets 4096 * 8 / 256 = 128
  // rows; with ep 64 each GPU's 4 experts get 4096 * 8 * 64 / 256 = 8192 rows.
  const Model m = deepseek();
  const Cluster c = load_cluster("h800-2048");
  const Training t = train(1024);
  const MoeLayerWork w1 = moe_layer_work(m, c, t, layout(64, 1));
  const MoeLayerWork w64 = moe_layer_work(m, c, t, layout(64, 64));
  EXPECT_DOUBLE_EQ(w1.rows_per_expert, 128);
  EXPECT_DOUBLE_EQ(w64.rows_per_expert, 8192);
  EXPECT_DOUBLE_EQ(w1.rows, w64.rows);  // the same work per GPU
  EXPECT_GT(w1.fwd_matmul_s, w64.fwd_matmul_s);
}

// Qwen3-30B-A3B's experts (hidden 2,048, 128 experts of 768, top-8; Hugging Face config.json),
// EP 8 on H100: 4,096 tokens x 8 / 16 local experts = 2,048 rows per expert. Megatron-Core runs one
// GEMM per expert (TE GroupedLinear): FC1 2,048 x 1,536 is 16 x 12 = 192 tiles of 128 x 128, two
// waves on 132 SMs where 1.45 would do (x 264/192); FC2 2,048 x 2,048 is 256 tiles (x 264/256).
// With 64 SMs both fill whole waves (3 and 4).
TEST(MoeGemm, EachExpertGemmPaysItsLastPartialTileWave) {
  const Model m = load_model(R"({"name": "qwen3-30b-a3b", "layers": 48, "hidden": 2048,
      "heads": 32, "kv_heads": 4, "head_dim": 128, "vocab": 151936, "gated_mlp": true,
      "moe": {"experts": 128, "experts_per_token": 8, "expert_ffn_hidden": 768,
              "load_imbalance": 1.0}})");
  Training t = train(1024, 4096);
  t.framework = "megatron-core";
  const Layout l = layout(8, 8);
  Cluster full = h100();
  full.gpu.floors.sm_count = 64;
  const Cluster c = h100();
  const MoeLayerWork a = moe_layer_work(m, c, t, l), b = moe_layer_work(m, full, t, l);
  ASSERT_DOUBLE_EQ(a.rows_per_expert, 2048);
  const double fc1 = matmul_time(c, t.dtype, 2048, 1536, 2048, 16);
  const double fc2 = matmul_time(c, t.dtype, 2048, 2048, 768, 16);
  EXPECT_NEAR(a.fwd_matmul_s - b.fwd_matmul_s, (264.0 / 192 - 1) * fc1 + (264.0 / 256 - 1) * fc2,
              1e-12);
  // One grouped kernel (torchtitan's torch._grouped_mm) schedules the 16 experts' tiles together:
  // 3,072 and 4,096 tiles, 24 and 32 waves, a factor 264/256 each; never slower than per expert.
  Training g = t;
  g.framework = "fsdp2";
  const MoeLayerWork grouped = moe_layer_work(m, c, g, l), grouped_full = moe_layer_work(m, full, g, l);
  EXPECT_NEAR(grouped.fwd_matmul_s - grouped_full.fwd_matmul_s, (264.0 / 256 - 1) * (fc1 + fc2), 1e-12);
  EXPECT_LT(grouped.fwd_matmul_s, a.fwd_matmul_s);
  // Few rows per expert (sequence 512: 256 rows; FC1 2 x 12 = 24 tiles, FC2 2 x 16 = 32): split-K
  // fills the SMs, FC1 5 ways (of K = 2,048: 120 tiles, one wave, x 132/120), FC2 3 ways (K = 768
  // allows 3 chunks of 256: 96 tiles, x 132/96), not a 5.5x or 4.1x idle wave. The rest of the
  // forward GEMM time is the router's.
  const Training short_seq = train(1024, 512);
  const MoeLayerWork s = moe_layer_work(m, c, short_seq, l);
  ASSERT_DOUBLE_EQ(s.rows_per_expert, 256);
  EXPECT_NEAR(s.fwd_matmul_s,
              132.0 / 120 * matmul_time(c, t.dtype, 256, 1536, 2048, 16) +
                  132.0 / 96 * matmul_time(c, t.dtype, 256, 2048, 768, 16) +
                  matmul_time(c, t.dtype, 512, 128, 2048),
              1e-12);
}

TEST(Attention, MlaProjectionFlopsByHand) {
  const Model m = deepseek();
  // W_DQ 7168*1536, W_UQ 1536*128*192, W_DKV+W_KR 7168*576, W_UK+W_UV 512*128*256, W_O 16384*7168.
  const double w = 7168.0 * 1536 + 1536.0 * 128 * 192 + 7168.0 * 576 + 512.0 * 128 * 256 +
                   16384.0 * 7168;
  EXPECT_DOUBLE_EQ(attention_projection_forward_flops(m, 1), 2 * w);
  // Scores: QK^T over 128 x 192 and AV over 128 x 128 per key.
  EXPECT_DOUBLE_EQ(attention_core_forward_flops(m, 1, 4096), 2.0 * 4096 * (128 * 192 + 128 * 128));
}

TEST(Attention, SlidingWindowCutsTheScores) {
  Model m = load_model("llama3-8b");
  const double full = attention_core_forward_flops(m, 1, 32768);
  m.sliding_window = 4096;  // every layer local (Mistral 7B v0.1)
  EXPECT_DOUBLE_EQ(attention_core_forward_flops(m, 1, 32768), full * 4096 / 32768);
  m.sliding_window_pattern = 2;  // every other layer global (Gemma 2)
  EXPECT_DOUBLE_EQ(attention_core_forward_flops(m, 1, 32768), full * (0.5 * 4096 + 0.5 * 32768) / 32768);
}

TEST(Attention, ExplicitHeadDimSetsTheWidths) {
  Model m = load_model("llama3-8b");
  m.head_dim_explicit = 256;  // Gemma-style: 32 heads of 256 on a 4096 model
  const AttentionShape s = attention_shape(m);
  EXPECT_DOUBLE_EQ(s.q, 32 * 256);
  EXPECT_DOUBLE_EQ(s.k, 8 * 256);
  EXPECT_DOUBLE_EQ(attention_params(m), 4096.0 * (8192 + 2 * 2048) + 8192.0 * 4096);
}

}  // namespace
}  // namespace parplan::cost
