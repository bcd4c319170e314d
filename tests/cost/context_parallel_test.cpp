// Context parallelism: Ulysses all-to-all bytes by hand, head divisibility, USP at its extremes.
#include <gtest/gtest.h>

#include "parplan/cost/context_parallel.hpp"
#include "parplan/cost/step.hpp"
#include "parplan/model/io.hpp"

using namespace parplan;
using namespace parplan::cost;

namespace {
Training long_context() {
  Training t = load_training("llama3-8k");
  t.seq_len = 131072;
  t.global_batch = 64;
  return t;
}
Layout cp_layout(int32_t tp, int32_t cp, CpKind k, int32_t ulysses = 0) {
  Layout l{.dp = 1, .tp = tp, .pp = 8, .cp = cp};
  l.cp_kind = k;
  l.ulysses = ulysses;
  l.recompute = Recompute::Selective;
  return l;
}
}  // namespace

TEST(Ulysses, AllToAllBytesByHand) {
  // Llama 3 70B (64 heads, 8 KV heads, head_dim 128), 128K tokens, TP 1, Ulysses 8: each rank
  // holds 131072 / 8 = 16,384 tokens; Q and O buffers 16384 * 64 * 128 * 2 = 268,435,456 bytes,
  // K and V 16384 * 8 * 128 * 2 = 33,554,432. Four all-to-alls forward, each sending 7/8 of its
  // buffer: 7/8 * 603,979,776 = 528,482,304 bytes; backward mirrors it.
  const Model m = load_model("llama3-70b");
  const Cluster c = load_cluster("dgx-h100-80g");
  const Training t = long_context();
  const Layout l = cp_layout(1, 8, CpKind::Ulysses);
  const CpWork w = context_parallel_work(m, c, t, l, layer_compute(m, c, t, l));
  EXPECT_EQ(w.ulysses, 8);
  EXPECT_EQ(w.ring, 1);
  EXPECT_DOUBLE_EQ(w.a2a_buffer_bytes, 603'979'776.0);
  EXPECT_DOUBLE_EQ(w.fwd_bytes, 528'482'304.0);
  EXPECT_DOUBLE_EQ(w.bwd_bytes, 528'482'304.0);
  // Inside one NVSwitch node, ring-style all-to-all: 7 latencies + 7/8 M / B per collective.
  const double bw = c.intra.bandwidth_bytes_per_s * c.efficiency.intra_node_link;
  const double hand = 4 * 7 * c.intra.latency_s + 528'482'304.0 / bw;
  EXPECT_NEAR(w.fwd_s / hand, 1.0, 1e-12);
  EXPECT_DOUBLE_EQ(w.fwd_exposed_s, w.fwd_s);  // attention waits for its all-to-all
}

TEST(Ulysses, FewerKvHeadsThanTheDegreeAreRepeated) {
  // TP 8 leaves one KV head per rank; Ulysses 8 repeats it to 8 (DeepSpeed's GQA handling), so K
  // and V buffers equal 16384 * 8 * 128 * 2 = 33,554,432 bytes each, Q and O 16384 * 8 * 128 * 2.
  const Model m = load_model("llama3-70b");
  const Cluster c = load_cluster("dgx-h100-80g");
  const Training t = long_context();
  const Layout l = cp_layout(8, 8, CpKind::Ulysses);
  const CpWork w = context_parallel_work(m, c, t, l, layer_compute(m, c, t, l));
  EXPECT_DOUBLE_EQ(w.a2a_buffer_bytes, 4 * 33'554'432.0);
}

TEST(Ulysses, HeadDivisibility) {
  const Model m = load_model("llama3-70b");  // 64 heads, 8 KV heads
  EXPECT_TRUE(ulysses_splits_heads(m, 1, 8));
  EXPECT_TRUE(ulysses_splits_heads(m, 1, 64));   // 8 KV heads divide 64: repeated
  EXPECT_FALSE(ulysses_splits_heads(m, 8, 16));  // 8 heads per TP rank
  EXPECT_FALSE(ulysses_splits_heads(m, 1, 3));
  EXPECT_TRUE(ulysses_splits_heads(m, 8, 8));
}

TEST(Ulysses, LayoutValidationNamesTheFieldWhenHeadsDoNotSplit) {
  const Model m = load_model("llama3-70b");
  const Cluster c = load_cluster("dgx-h100-80g");
  const Training t = long_context();
  Diagnostics d;
  validate(cp_layout(8, 16, CpKind::Ulysses), m, c, t, d);
  ASSERT_EQ(d.errors.size(), 1u);
  EXPECT_NE(d.errors[0].find("layout.cp_kind"), std::string::npos) << d.errors[0];
  EXPECT_NE(d.errors[0].find("heads per TP rank (8)"), std::string::npos) << d.errors[0];
  Diagnostics ok;
  validate(cp_layout(8, 16, CpKind::Ring), m, c, t, ok);
  EXPECT_TRUE(ok.ok()) << (ok.errors.empty() ? "" : ok.errors[0]);
}

TEST(Usp, ReducesToRingAndUlyssesAtItsExtremes) {
  const Model m = load_model("llama3-70b");
  const Cluster c = load_cluster("dgx-h100-80g");
  const Training t = long_context();
  for (int32_t tp : {1, 2}) {
    const int32_t cp = 8;
    const StepWork ring = step_work(m, c, t, cp_layout(tp, cp, CpKind::Ring));
    const StepWork uly = step_work(m, c, t, cp_layout(tp, cp, CpKind::Ulysses));
    const StepWork usp1 = step_work(m, c, t, cp_layout(tp, cp, CpKind::Usp, 1));
    const StepWork uspc = step_work(m, c, t, cp_layout(tp, cp, CpKind::Usp, cp));
    EXPECT_DOUBLE_EQ(usp1.cp_fwd_bytes, ring.cp_fwd_bytes);
    EXPECT_DOUBLE_EQ(usp1.cp_bwd_exposed_s, ring.cp_bwd_exposed_s);
    EXPECT_DOUBLE_EQ(usp1.cp_fwd_s, ring.cp_fwd_s);
    EXPECT_DOUBLE_EQ(uspc.cp_fwd_bytes, uly.cp_fwd_bytes);
    EXPECT_DOUBLE_EQ(uspc.cp_bwd_exposed_s, uly.cp_bwd_exposed_s);
    EXPECT_DOUBLE_EQ(uspc.cp_fwd_s, uly.cp_fwd_s);
    EXPECT_DOUBLE_EQ(predict(m, c, t, cp_layout(tp, cp, CpKind::Usp, 1)).step_time_s,
                     predict(m, c, t, cp_layout(tp, cp, CpKind::Ring)).step_time_s);
    EXPECT_NE(ring.cp_fwd_bytes, uly.cp_fwd_bytes);
  }
}

TEST(Usp, DerivedUlyssesDegreeFillsTheNode) {
  // TP 2, CP 16 on 8-GPU nodes: Ulysses over the 4 CP ranks a node holds, ring over 4 nodes.
  const Model m = load_model("llama3-70b");
  const Cluster c = load_cluster("dgx-h100-80g");
  const Training t = long_context();
  const Layout l = cp_layout(2, 16, CpKind::Usp);
  EXPECT_EQ(ulysses_degree(m, c, l), 4);
  const CpWork w = context_parallel_work(m, c, t, l, layer_compute(m, c, t, l));
  EXPECT_EQ(w.ring, 4);
  // Ring part: 3 steps of the K, V block 2 * 8192 tokens * 4 KV heads * 128 * 2 bytes; Ulysses
  // part: 3/4 of Q, O (8192 * 32 * 128 * 2 each) and K, V (8192 * 4 * 128 * 2 each).
  const double kv_block = 2.0 * 8192 * 4 * 128 * 2;
  const double a2a = 0.75 * (2 * 8192.0 * 32 * 128 * 2 + 2 * 8192.0 * 4 * 128 * 2);
  EXPECT_DOUBLE_EQ(w.fwd_bytes, 3 * kv_block + a2a);
}

TEST(Ring, BackwardBytesFollowTheFramework) {
  // Llama 3 70B, ring CP 8, 128K tokens: each rank's K, V block is 16384 tokens * micro-batch *
  // (8 + 8 KV heads * 128) * 2 bytes; 7 ring steps forward. Backward: Megatron-Core (the default)
  // sends K, V again with dK, dV (14 blocks); parplan's runtime saved the received blocks and
  // sends dK, dV only (7 blocks, examples/frameworks/parplan-runtime.json context_parallel).
  const Model m = load_model("llama3-70b");
  const Cluster c = load_cluster("dgx-h100-80g");
  Training t = long_context();
  const Layout l = cp_layout(1, 8, CpKind::Ring);
  const double block = 16384.0 * l.micro_batch * 2 * 8 * 128 * 2;
  const CpWork mcore = context_parallel_work(m, c, t, l, layer_compute(m, c, t, l));
  EXPECT_EQ(mcore.ring, 8);
  EXPECT_DOUBLE_EQ(mcore.ring_kv_block_bytes, block);
  EXPECT_DOUBLE_EQ(mcore.fwd_bytes, 7 * block);
  EXPECT_DOUBLE_EQ(mcore.bwd_bytes, 14 * block);
  t.framework = "parplan-runtime";
  const CpWork runtime = context_parallel_work(m, c, t, l, layer_compute(m, c, t, l));
  EXPECT_DOUBLE_EQ(runtime.fwd_bytes, 7 * block);
  EXPECT_DOUBLE_EQ(runtime.bwd_bytes, 7 * block);
  EXPECT_LT(runtime.bwd_s, mcore.bwd_s);  // half the bytes per backward step
}
