// FP8 training: GEMM times at the FP8 peak, memory of FP8 copies and saved inputs, casts by recipe.
#include <gtest/gtest.h>

#include "parplan/cost/floors.hpp"
#include "parplan/cost/fp8.hpp"
#include "parplan/cost/memory.hpp"
#include "parplan/cost/step.hpp"
#include "parplan/model/error.hpp"
#include "parplan/model/io.hpp"
#include "../support/corpus_row.hpp"

using namespace parplan;
using namespace parplan::cost;

namespace {
Training fp8(Training t, Fp8Recipe r = Fp8Recipe::Delayed) {
  t.dtype = DType::FP8;
  t.fp8_recipe = r;
  return t;
}
}  // namespace

TEST(Fp8Compute, LargeGemmRunsAtThePeaksRatio) {
  // dgx-h100-80g: 989 TFLOP/s bf16 and 1,979 fp8 dense (NVIDIA H100 datasheet); the same
  // shape-efficiency curve applies to both, so an 8192^3 GEMM is 989 / 1979 as long in FP8.
  const Cluster c = load_cluster("dgx-h100-80g");
  const double bf16 = matmul_time(c, DType::BF16, 8192, 8192, 8192);
  const double f8 = matmul_time(c, DType::FP8, 8192, 8192, 8192);
  EXPECT_NEAR(f8 / bf16, 989.0 / 1979.0, 1e-12);
}

TEST(Fp8Compute, OnlyTheLayersLinearGemmsRunInFp8) {
  // Llama 3 70B, 8K tokens, TP 8: the four linear GEMMs take 989/1979 of their BF16 time; the
  // attention core (QK^T, AV) stays in BF16 and keeps its time.
  const Model m = load_model("llama3-70b");
  const Cluster c = load_cluster("dgx-h100-80g");
  const Training bf = load_training("llama3-8k");
  const Layout l{.dp = 8, .tp = 8, .pp = 4, .sequence_parallel = true};
  const LayerCompute a = layer_compute(m, c, bf, l), b = layer_compute(m, c, fp8(bf), l);
  EXPECT_DOUBLE_EQ(b.fwd_attention_core_s, a.fwd_attention_core_s);
  EXPECT_NEAR((b.fwd_matmul_s - b.fwd_attention_core_s) / (a.fwd_matmul_s - a.fwd_attention_core_s),
              989.0 / 1979.0, 1e-12);
  // Casts add memory-bound work in both directions.
  EXPECT_GT(b.fwd_memory_s, a.fwd_memory_s);
  EXPECT_GT(b.bwd_s - 2 * b.fwd_matmul_s, a.bwd_s - 2 * a.fwd_matmul_s);
}

TEST(Fp8Compute, CurrentScalingReadsEveryCastInputOnceMore) {
  // Llama 3 70B, TP 8 with SP, 8192 tokens: GEMM inputs per layer are T (2h/8 + q/8 + f/8) =
  // 8192 * (2048 + 1024 + 3584) = 54,525,952 elements; current scaling's amax pass reads each
  // BF16 element (2 bytes) once more: 109,051,904 bytes more than delayed scaling.
  const Model m = load_model("llama3-70b");
  const Training t = load_training("llama3-8k");
  const Layout l{.dp = 8, .tp = 8, .pp = 4, .sequence_parallel = true};
  const Fp8CastBytes d = fp8_cast_bytes(m, fp8(t, Fp8Recipe::Delayed), l);
  const Fp8CastBytes cur = fp8_cast_bytes(m, fp8(t, Fp8Recipe::Current), l);
  EXPECT_DOUBLE_EQ(cur.fwd - d.fwd, 109'051'904.0);
  EXPECT_GT(cur.bwd, d.bwd);
  const Fp8CastBytes none = fp8_cast_bytes(m, t, l);
  EXPECT_EQ(none.fwd + none.bwd, 0.0);
}

TEST(Fp8Memory, LayerWeightsGainTheirFp8CopiesByHand) {
  // Llama 3 70B layer: attention 8192 (8192 + 2 * 1024) + 8192^2 = 150,994,944, MLP
  // 3 * 8192 * 28672 = 704,643,072, norms 16,384: 855,654,400 parameters. A middle stage of
  // TP 8 / PP 4 holds 20 * ((855,654,400 - 16,384) / 8 + 16,384) = 2,139,422,720 of them:
  // BF16 weights 2 bytes each, plus FP8 and transposed FP8 copies, 2 bytes more.
  const Model m = load_model("llama3-70b");
  const Cluster c = load_cluster("dgx-h100-80g");
  const Training bf = load_training("llama3-8k");
  const Layout l{.dp = 8, .tp = 8, .pp = 4, .zero = 1, .sequence_parallel = true};
  const double layer_params = 2'139'422'720.0;
  const MemoryBreakdown a = memory_per_gpu(m, c, bf, l, 1), b = memory_per_gpu(m, c, fp8(bf), l, 1);
  EXPECT_DOUBLE_EQ(a.params, 2 * layer_params);
  EXPECT_DOUBLE_EQ(b.params, 4 * layer_params);
  // fp32 master weights and Adam moments are unchanged (12 bytes / 8 DP ranks).
  EXPECT_DOUBLE_EQ(b.optimizer, a.optimizer);
  EXPECT_DOUBLE_EQ(b.optimizer, 12 * layer_params / 8);
  // FP8 primary weights (--fp8-param-gather): 1 byte + the transposed copy.
  Training pg = fp8(bf);
  pg.fp8_param_gather = Switch::On;
  EXPECT_DOUBLE_EQ(memory_per_gpu(m, c, pg, l, 1).params, 2 * layer_params);
}

TEST(Fp8Memory, SavedGemmInputsAreOneByte) {
  // Per layer, TP 8 with SP, s b h = 8192 * 8192 = 67,108,864: the QKV and FC1 inputs (2 sbh / 8)
  // and the projection and FC2 inputs ((1 + f/h) sbh / 8 = 4.5 sbh / 8) drop from 2 bytes to 1:
  // 0.8125 sbh = 54,525,952 bytes less.
  const Model m = load_model("llama3-70b");
  const Training bf = load_training("llama3-8k");
  const Layout l{.dp = 8, .tp = 8, .pp = 4, .sequence_parallel = true};
  EXPECT_DOUBLE_EQ(layer_activation_bytes(m, bf, l) - layer_activation_bytes(m, fp8(bf), l),
                   54'525'952.0);
}

TEST(Fp8Step, MfuIsAgainstTheFp8PeakAndTheStepIsFaster) {
  const Model m = load_model("llama3-70b");
  const Cluster c = load_cluster("dgx-h100-80g");
  const Training bf = load_training("llama3-8k");
  const Layout l{.dp = 16, .tp = 8, .pp = 4, .zero = 1, .recompute = Recompute::Selective,
                 .sequence_parallel = true};
  const StepCost a = predict(m, c, bf, l), b = predict(m, c, fp8(bf), l);
  EXPECT_LT(b.step_time_s, a.step_time_s);
  EXPECT_GT(b.step_time_s, a.step_time_s * 989.0 / 1979.0);  // not everything is a GEMM
  // Issue 21 item 9: the FP8 dense peak (the GEMMs' dtype), not BF16's; published figures are
  // compared against BF16's.
  EXPECT_DOUBLE_EQ(b.mfu, b.model_tflops_per_gpu * 1e12 / 1979e12);
  EXPECT_DOUBLE_EQ(published_mfu_peak_flops(c.gpu, fp8(bf)), 989e12);
  EXPECT_DOUBLE_EQ(published_mfu_peak_flops(c.gpu, bf), utilization_peak_flops(c.gpu, bf));
  EXPECT_DOUBLE_EQ(b.flops.model, a.flops.model);
}

TEST(Fp8Step, AGpuWithoutAnFp8PeakIsRefusedNamingTheField) {
  const Model m = load_model("llama3-70b");
  const Cluster c = load_cluster("dgx-a100-80g");
  const Layout l{.dp = 16, .tp = 8, .pp = 4};
  try {
    predict(m, c, fp8(load_training("llama3-8k")), l);
    FAIL() << "A100 has no FP8 peak";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("cluster.gpu.peak_tflops"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("fp8"), std::string::npos) << e.what();
  }
}

// NVFP4 as Transformer Engine 2.12 runs it (NVFP4BlockScaling's defaults, NVFP4Quantizer::
// quantize_impl), on the 26.02 GB300 Llama 3 70B NVFP4 row (TP 1, PP 4, MBS 1, GBS 256 over DP 16:
// 16 micro-batches). Per layer, T = 8192 tokens; h 8192, q 8192, kv 1024, f 28672.
TEST(Nvfp4Casts, InputsAndGradientsAreReadThriceAndWeightsTwiceOnAReal70bRow) {
  const CorpusRun r = test::corpus_row("mbridge-blackwell/26.02-gb300-llama3-70b-nvfp4-64gpu");
  ASSERT_EQ(r.training.fp8_recipe, Fp8Recipe::Nvfp4);
  ASSERT_EQ(r.layout.tp, 1);
  // Inputs T (2h + q + f) = 8192 * 53,248 = 436,207,616 elements, each read three times (the
  // RHT amax pass, the row-wise cast, the column-wise RHT cast: 6 bytes) and written as two 4-bit
  // copies with an E4M3 scale per 16 (2 x 0.5625): 7.125 bytes. Weights h (q + 2kv) + q h + 2 f h
  // + f h = 855,638,016, per step: an amax pass and one cast writing both copies (2 + 2 + 1.125
  // bytes), over the 16 micro-batches: 274,071,552 bytes.
  const Fp8CastBytes b = fp8_cast_bytes(r.model, r.training, r.layout);
  EXPECT_DOUBLE_EQ(b.fwd, 436'207'616.0 * 7.125 + 855'638'016.0 * 5.125 / 16.0);
  // Output gradients T ((q + 2kv) + h + 2f + h) = 8192 * 83,968 = 687,865,856 elements, 7.125 each.
  EXPECT_DOUBLE_EQ(b.bwd, 687'865'856.0 * 7.125);
  // The same row under MXFP8 (one read, 1 + 1/32 bytes a copy): 4.0625 bytes an input.
  Training mx = r.training;
  mx.fp8_recipe = Fp8Recipe::Mxfp8;
  EXPECT_DOUBLE_EQ(fp8_cast_bytes(r.model, mx, r.layout).bwd, 687'865'856.0 * 4.0625);
  // Two kernels more per linear layer and pass (4 linears): the amax and the column-wise cast.
  const LayerKernels k4 = layer_kernels(r.model, r.training, r.layout);
  const LayerKernels k8 = layer_kernels(r.model, mx, r.layout);
  EXPECT_DOUBLE_EQ(k4.fwd - k8.fwd, 8.0);
  EXPECT_DOUBLE_EQ(k4.bwd - k8.bwd, 8.0);
  // TP 1: no amax all-reduce.
  EXPECT_EQ(amax_reductions_per_pass(r.training, r.layout), 0);
  EXPECT_EQ(step_work(r.model, r.cluster, r.training, r.layout).amax_reduce_s, 0.0);
}

TEST(Nvfp4Casts, SequenceParallelCastsAllReduceTheirAmaxOverTheTensorGroup) {
  // 26.02 GB200 Llama 3 70B NVFP4: TP 2 with SP. QKV and FC1 inputs (forward) and the projection's
  // and FC2's output gradients (backward) all-reduce their amaxes: 4 small all-reduces a layer.
  const CorpusRun r = test::corpus_row("mbridge-blackwell/26.02-gb200-llama3-70b-nvfp4-64gpu");
  ASSERT_TRUE(r.layout.sequence_parallel);
  EXPECT_EQ(amax_reductions_per_pass(r.training, r.layout), 2);
  const StepWork w = step_work(r.model, r.cluster, r.training, r.layout);
  EXPECT_GT(w.amax_reduce_s, 0.0);
  EXPECT_LT(w.amax_reduce_s, w.tp_collective_s);  // latency-bound, 8 bytes each
  // Without SP the shards do not exist: no reduction; MXFP8 (per-block scales only): none.
  Layout no_sp = r.layout;
  no_sp.sequence_parallel = false;
  EXPECT_EQ(amax_reductions_per_pass(r.training, no_sp), 0);
  Training mx = r.training;
  mx.fp8_recipe = Fp8Recipe::Mxfp8;
  EXPECT_EQ(amax_reductions_per_pass(mx, r.layout), 0);
}
