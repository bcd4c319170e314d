// Megatron-Core's selective recomputation by module (layout.recompute_modules, Megatron-LM@b0cc270
// --recompute-modules) on the corpus's DeepSeek-V3 rows, whose recipes set it: Megatron-Bridge
// 26.02 / 25.11 (mla_up_proj; GB300 25.11 moe_act) and DeepSeek's own run (RMSNorm and MLA
// up-projections, report sec. 3.2.3).
#include <gtest/gtest.h>

#include "parplan/cost/compute.hpp"
#include "parplan/cost/corpus.hpp"
#include "parplan/cost/flops.hpp"
#include "parplan/cost/fp8.hpp"
#include "parplan/cost/memory.hpp"
#include "parplan/cost/moe.hpp"
#include "parplan/cost/step.hpp"
#include "../support/corpus_row.hpp"

using namespace parplan;
using namespace parplan::cost;

namespace {
CorpusRun gb300_26() { return test::corpus_row("mbridge-blackwell/26.02-gb300-deepseek-v3-mxfp8-256gpu"); }
CorpusRun gb300_25_bf16() { return test::corpus_row("mbridge-blackwell/25.11-gb300-deepseek-v3-bf16-256gpu"); }
CorpusRun h800() { return test::corpus_row("deepseek-v3/pretrain-2048-h800"); }
Layout with_modules(Layout l, uint8_t modules) {
  l.recompute = modules ? Recompute::Selective : Recompute::None;
  l.recompute_modules = modules;
  return l;
}
}  // namespace

TEST(RecomputeModules, TheDeepSeekRowsRecordTheirRecipesModules) {
  EXPECT_EQ(gb300_26().layout.recompute, Recompute::Selective);
  EXPECT_EQ(gb300_26().layout.recompute_modules, kRecomputeMlaUpProj);
  EXPECT_EQ(gb300_25_bf16().layout.recompute_modules, kRecomputeMoeAct);
  EXPECT_EQ(h800().layout.recompute_modules, kRecomputeLayernorm | kRecomputeMlaUpProj);
  for (const char* id : {"26.02-gb200-deepseek-v3-mxfp8-256gpu", "26.02-b300-deepseek-v3-mxfp8-256gpu",
                         "26.02-b200-deepseek-v3-mxfp8-256gpu", "25.11-gb200-deepseek-v3-bf16-256gpu",
                         "25.11-gb200-deepseek-v3-fp8-mx-256gpu"})
    EXPECT_EQ(test::corpus_row(std::string("mbridge-blackwell/") + id).layout.recompute_modules,
              kRecomputeMlaUpProj)
        << id;
}

// mla_up_proj discards the up-projected, RoPE-applied Q, K, V that core attention saved
// (multi_latent_attention.py l.344 / l.838): per token 128 heads x (192 + 192 + 128) BF16
// values; 4096 tokens x micro-batch 2 at TP 1: exactly 1 GiB per layer.
TEST(RecomputeModules, MlaUpProjFreesTheUpProjectedQkvOfEveryLayer) {
  const CorpusRun r = gb300_26();
  ASSERT_EQ(r.layout.micro_batch, 2);
  ASSERT_EQ(r.layout.tp, 1);
  const Layout none = with_modules(r.layout, 0);
  const double freed = layer_activation_bytes(r.model, r.training, none) -
                       layer_activation_bytes(r.model, r.training, r.layout);
  EXPECT_NEAR(freed, 4096.0 * 2 * 2 * 128 * (192 + 192 + 128), 1.0);
  // The row was predicted 334.6 GiB of 288 with the activations of every layer kept.
  const MemoryBreakdown before = memory_per_gpu(r.model, r.cluster, r.training, none);
  const MemoryBreakdown after = memory_per_gpu(r.model, r.cluster, r.training, r.layout);
  EXPECT_LT(after.activations, before.activations);
  EXPECT_NEAR(before.layer_activations - after.layer_activations,
              freed * before.layer_activations / layer_activation_bytes(r.model, r.training, none),
              1e-6 * before.layer_activations);
}

// moe_act discards the routed rows' activation output, FC2's input (experts.py l.738-750): per
// MoE layer 4096 tokens x 8 experts x 2048 (force-balanced, TP 1, ETP 1) BF16 values.
TEST(RecomputeModules, MoeActFreesTheRoutedRowsActivationOutput) {
  const CorpusRun r = gb300_25_bf16();
  const Layout none = with_modules(r.layout, 0);
  const double per_moe_layer = 4096.0 * 8 * 2048 * 2;
  EXPECT_NEAR(moe_mlp_activation_bytes(r.model, r.training, none) -
                  moe_mlp_activation_bytes(r.model, r.training, r.layout),
              per_moe_layer, 1.0);
  EXPECT_NEAR(layer_activation_bytes(r.model, r.training, none) -
                  layer_activation_bytes(r.model, r.training, r.layout),
              r.model.moe_layer_share() * per_moe_layer, 1.0);
}

// layernorm discards the outputs of the norms that are modules of their own: the input norm
// before MLA's down-projections, on every layer, and the pre-MLP norm of the MoE layers (the
// dense layers' is fused into FC1). Under FP8 they were kept as the GEMMs' 1-byte copies.
TEST(RecomputeModules, LayernormFreesTheNormOutputsBeforeMlaAndTheRouter) {
  const CorpusRun r = h800();
  ASSERT_TRUE(r.training.fp8());
  ASSERT_EQ(saved_gemm_input_bytes(r.training), 1.0);
  const Layout mla = with_modules(r.layout, kRecomputeMlaUpProj);
  const double freed = layer_activation_bytes(r.model, r.training, mla) -
                       layer_activation_bytes(r.model, r.training, r.layout);
  EXPECT_NEAR(freed, (1 + r.model.moe_layer_share()) * 1.0 * 4096 * 7168, 1.0);
}

// The recomputed up-projections are forward GEMMs again: exactly their FLOPs in the hardware
// count (W_UQ 1536 -> 128 x 192, W_UK/W_UV 512 -> 128 x (128 + 128) per token and layer), and in
// step time no faster than the GPU's peak and less than the layer's whole forward.
TEST(RecomputeModules, MlaUpProjRerunsTheUpProjectionsInBackward) {
  const CorpusRun r = gb300_26();
  const Layout none = with_modules(r.layout, 0);
  const double tokens = double(r.training.global_batch) * double(r.training.seq_len);
  const double per_token = 2.0 * (1536.0 * 128 * 192 + 512.0 * 128 * 256);
  EXPECT_NEAR(step_flops(r.model, r.training, r.layout).hardware -
                  step_flops(r.model, r.training, none).hardware,
              tokens * per_token * r.model.layers, 1e-9 * tokens * per_token * r.model.layers);
  const LayerCompute lc = layer_compute(r.model, r.cluster, r.training, r.layout);
  const double local = 4096.0 * 2 * per_token;  // one micro-batch on one GPU (TP 1)
  EXPECT_GT(lc.recompute_s, local / r.cluster.gpu.peak_flops(linear_gemm_dtype(r.training)));
  EXPECT_LT(lc.recompute_s, lc.fwd_s);
  EXPECT_EQ(layer_compute(r.model, r.cluster, r.training, none).recompute_s, 0.0);
  EXPECT_GT(predict(r.model, r.cluster, r.training, r.layout).step_time_s,
            predict(r.model, r.cluster, r.training, none).step_time_s);
}

// "moe" checkpoints the whole MoE layer, dispatcher included (moe_layer.py l.432): nothing of
// its MLP part is kept, and its dispatch and combine run again in backward.
TEST(RecomputeModules, MoeRecomputesTheLayerWithItsAllToAlls) {
  const CorpusRun r = gb300_26();
  const Layout moe = with_modules(r.layout, kRecomputeMoe);
  const Layout none = with_modules(r.layout, 0);
  EXPECT_EQ(moe_mlp_activation_bytes(r.model, r.training, moe), 0.0);
  const EpComm base = ep_comm(r.model, r.cluster, r.training, none,
                              layer_compute(r.model, r.cluster, r.training, none));
  const EpComm again = ep_comm(r.model, r.cluster, r.training, moe,
                               layer_compute(r.model, r.cluster, r.training, moe));
  ASSERT_GT(base.fwd_s, 0.0);
  EXPECT_NEAR(again.bwd_s, base.bwd_s + base.fwd_s, 1e-12);
}
