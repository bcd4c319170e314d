// Op-level selective activation checkpointing (torchtitan's SAC) as memory sees it, on a real
// corpus row: torchtitan's Llama 2 70B on 64 A100 80GB, FSDP2, selective op AC, local batch 1
// (torchtitan@0413364 docs/performance.md; it ran, and batch 2 ran out of memory).
#include <gtest/gtest.h>

#include "parplan/cost/attention.hpp"
#include "parplan/cost/corpus.hpp"
#include "parplan/cost/memory.hpp"

using namespace parplan;
using namespace parplan::cost;

namespace {
CorpusRun find(const std::string& label) {
  for (const auto& s : load_embedded_corpus())
    for (const auto& r : s.runs)
      if (r.label() == label) return r;
  ADD_FAILURE() << label << " not found";
  return {};
}
}  // namespace

TEST(OpSacMemory, KeepsTheBlockInputAttentionOutputAndEverySecondMmOutput) {
  const CorpusRun r = find("torchtitan-a100/llama2-70b-sel-op");
  ASSERT_EQ(r.layout.recompute, Recompute::Selective);
  const Model& m = r.model;
  const double s = double(r.training.seq_len), b = double(r.layout.micro_batch);
  const double h = double(m.hidden), f = double(m.ffn_hidden), e = 2.0;
  const AttentionShape a = attention_shape(m);
  // input, attention output + fp32 LSE, wq, wv, w1 (f) and w2 (h) outputs; TP 1.
  const double want = s * b * (e * h + e * a.o_in + 4.0 * double(m.heads) + e * (a.q + a.v) +
                               e * f + e * h);
  EXPECT_NEAR(layer_activation_bytes(m, r.training, r.layout), want, 1e-9 * want);
  // Below a layer without recomputation, above full recomputation's layer input.
  Layout none = r.layout, full = r.layout;
  none.recompute = Recompute::None;
  full.recompute = Recompute::Full;
  EXPECT_LT(want, 0.6 * layer_activation_bytes(m, r.training, none));
  EXPECT_GT(want, 3.0 * layer_activation_bytes(m, r.training, full));
  // The run ran on 80 GB GPUs, and at local batch 2 it did not (the source's footnote).
  const MemoryBreakdown mb1 = memory_per_gpu(m, r.cluster, r.training, r.layout);
  EXPECT_TRUE(mb1.fits) << mb1.total / (1 << 30);
  Layout two = r.layout;
  two.micro_batch = 2;
  Training t2 = r.training;
  t2.global_batch *= 2;
  EXPECT_FALSE(memory_per_gpu(m, r.cluster, t2, two).fits);
}

TEST(OpSacMemory, Fp8ScaledMmIsNotInTheSaveList) {
  const CorpusRun r = find("torchtitan-h100/t1-8b-fsdp-compile-fp8");
  ASSERT_TRUE(r.training.fp8());
  const Model& m = r.model;
  const double s = double(r.training.seq_len), b = double(r.layout.micro_batch);
  const AttentionShape a = attention_shape(m);
  const double want = s * b * (2.0 * double(m.hidden) + 2.0 * a.o_in + 4.0 * double(m.heads));
  EXPECT_NEAR(layer_activation_bytes(m, r.training, r.layout), want, 1e-9 * want);
}
