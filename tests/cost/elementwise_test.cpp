// Eager vs compiled elementwise traffic, causal flash attention, torchtitan's op-level selective
// recomputation and async TP's forward-only overlap (cost/src/elementwise.cpp, compute.cpp,
// overlap.cpp; examples/frameworks/fsdp2.json).
#include <gtest/gtest.h>

#include <algorithm>

#include "parplan/cost/floors.hpp"
#include "parplan/cost/compute.hpp"
#include "parplan/cost/step.hpp"
#include "test_inputs.hpp"

namespace parplan {
namespace {

Training llama_train(const std::string& framework, Switch compile) {
  Training t = load_training(R"({"global_batch": 64, "seq_len": 8192, "dtype": "bf16"})");
  t.framework = framework;
  t.compile = compile;
  return t;
}

TEST(Elementwise, EagerRmsNormRopeAndSwigluBytesByHand) {
  const Model m = load_model("llama3-8b");  // h 4096, f 14336, 32 heads, 8 KV heads of 128
  const Cluster c = test::a100();
  const Layout l{.dp = 8, .micro_batch = 1};
  const auto eager = cost::layer_compute(m, c, llama_train("fsdp2", Switch::Off), l);
  const auto fused = cost::layer_compute(m, c, llama_train("fsdp2", Switch::On), l);
  // Per token: two RMSNorms 36 instead of 4 bytes per element (4096 each), SwiGLU 10 instead of 6
  // (14336), RoPE 20 instead of 4 on Q and K (4096 + 1024): 262144 + 57344 + 81920 bytes.
  const double bytes = 8192.0 * (2 * 4096 * 32 + 14336 * 4 + 5120 * 16);
  const double rate = c.gpu.memory_bytes_per_s * c.efficiency.memory_bound;
  EXPECT_NEAR(eager.fwd_memory_s - fused.fwd_memory_s, bytes / rate, 1e-9);
  EXPECT_DOUBLE_EQ(eager.fwd_matmul_s, fused.fwd_matmul_s);
  // Megatron-Core runs fused kernels whether or not anything is compiled.
  const auto mc_off = cost::layer_compute(m, c, llama_train("megatron-core", Switch::Off), l);
  EXPECT_DOUBLE_EQ(mc_off.fwd_memory_s,
                   cost::layer_compute(m, c, llama_train("megatron-core", Switch::On), l).fwd_memory_s);
}

TEST(Elementwise, EagerCrossEntropyBytesByHand) {
  const Model m = load_model("llama3-8b");  // vocabulary 128256
  const Cluster c = test::a100();
  const Layout l{.dp = 8, .micro_batch = 1};
  // torchtitan's loss, eager: .float(), log_softmax, nll_loss and their backward move 36 bytes
  // per logit, against the fused vocab-parallel kernel's 16 (fsdp2.json, compute.cpp).
  const double logits = 8192.0 * 128256;
  const double rate = c.gpu.memory_bytes_per_s * c.efficiency.memory_bound;
  const Training eager = llama_train("fsdp2", Switch::Off), compiled = llama_train("fsdp2", Switch::On);
  EXPECT_NEAR(cost::logits_time(m, c, eager, l) - cost::logits_time(m, c, compiled, l),
              (36 - 16) * logits / rate, 1e-9);
  // Megatron-Core's fused kernel whether or not anything is compiled.
  EXPECT_DOUBLE_EQ(cost::logits_time(m, c, llama_train("megatron-core", Switch::Off), l),
                   cost::logits_time(m, c, llama_train("megatron-core", Switch::On), l));
}

TEST(Elementwise, CausalFlashAttentionComputesHalfTheSquare) {
  const Model m = load_model("llama3-8b");
  const Cluster c = test::a100();  // no published flash rate for ampere: the GEMM shape model
  const Layout l{.dp = 8, .micro_batch = 1};
  Training flash = llama_train("megatron-core", Switch::Default);
  Training standard = flash;
  standard.flash_attention = false;
  const auto f = cost::layer_compute(m, c, flash, l), s = cost::layer_compute(m, c, standard, l);
  // 64 key blocks of 128 per query block; on average (1 + 1/64) / 2 of them are computed.
  EXPECT_NEAR((f.fwd_matmul_s - f.fwd_linear_s) / (s.fwd_matmul_s - s.fwd_linear_s),
              0.5 * (1 + 128.0 / 8192), 1e-12);
}

TEST(Elementwise, HopperFlashRateIsTheFrameworksKernel) {
  const Model m = load_model("llama3-8b");
  const Cluster c = load_cluster("dgx-h100-80g");
  const Layout l{.dp = 8, .micro_batch = 1};
  // Forward attention FLOPs per GPU: 2 * 8192 tokens * 8192 keys * (4096 + 4096), causal share
  // (1 + 1/64) / 2; FlashAttention-2 at 35% of 989 TFLOP/s, cuDNN at 50%.
  const double flops = 2.0 * 8192 * 8192 * 8192 * 0.5 * (1 + 1.0 / 64);
  for (auto [fw, eff] : {std::pair{"fsdp2", 0.35}, std::pair{"megatron-core", 0.5}}) {
    const auto r = cost::layer_compute(m, c, llama_train(fw, Switch::On), l);
    EXPECT_NEAR(r.fwd_matmul_s - r.fwd_linear_s, flops / (989e12 * eff), 1e-9) << fw;
  }
}

TEST(Elementwise, TorchtitanSelectiveRecomputesEverySecondMm) {
  const Model m = load_model("llama3-8b");
  const Cluster c = test::a100();
  const Layout l{.dp = 8, .micro_batch = 1, .recompute = Recompute::Selective};
  const Training t = llama_train("fsdp2", Switch::On);
  const auto r = cost::layer_compute(m, c, t, l);
  // wk (8192 x 1024 x 4096), wo (8192 x 4096 x 4096) and w3 (8192 x 14336 x 4096) again, and
  // every elementwise op (flash attention: no softmax bytes, bf16: no casts); not the attention.
  const double gemms = cost::matmul_time(c, DType::BF16, 8192, 1024, 4096) +
                       cost::matmul_time(c, DType::BF16, 8192, 4096, 4096) +
                       cost::matmul_time(c, DType::BF16, 8192, 14336, 4096);
  // (and the device floors of the kernels it reruns, floors.cpp)
  const double floor = cost::gpu_floors(c.gpu).kernel_device_s;
  EXPECT_NEAR(r.recompute_s, gemms + r.fwd_memory_s + cost::layer_kernels(m, t, l).recompute * floor,
              1e-12);
  // Megatron's selective recomputation is the attention core (Korthikanti et al. 2022).
  const Training tm = llama_train("megatron-core", Switch::On);
  const auto mc = cost::layer_compute(m, c, tm, l);
  EXPECT_NEAR(mc.recompute_s,
              mc.fwd_attention_core_s + cost::layer_kernels(m, tm, l).recompute * floor, 1e-15);
}

TEST(Elementwise, AsyncTpHidesOnlyTheForwardCollectives) {
  const Model m = load_model("llama3-70b");
  const Cluster c = load_cluster("dgx-h100-80g");
  const Layout l{.dp = 4, .tp = 8, .micro_batch = 1, .zero = 1, .recompute = Recompute::Full,
                 .sequence_parallel = true};
  auto exposed = [&](const std::string& fw) {
    Training t = llama_train(fw, Switch::On);
    t.tp_comm_overlap = Switch::On;
    return cost::step_work(m, c, t, l);
  };
  const cost::StepWork tt = exposed("fsdp2"), mc = exposed("megatron-core");
  // SP, full recomputation: 4 collectives forward, 4 again in the recomputed forward, 4 + 2 in
  // backward (Megatron re-gathers the QKV and FC1 inputs): 14 per layer.
  ASSERT_EQ(tt.tp_fwd_collectives, 4);
  ASSERT_EQ(tt.tp_bwd_collectives, 10);
  const double one = tt.tp_collective_s, fwd = 8 * one, bwd = 6 * one;
  const double gemm_f = 2 * tt.layer.fwd_linear_s, gemm_b = 2 * tt.layer.fwd_linear_s;
  auto hide = [&](double comm, double gemm) {
    return std::max(0.0, comm - gemm) + c.efficiency.overlap_slowdown * std::min(comm, gemm);
  };
  EXPECT_NEAR(tt.tp_exposed_s, hide(fwd, gemm_f) + bwd, 1e-12);
  EXPECT_NEAR(mc.tp_exposed_s, hide(fwd, gemm_f) + hide(bwd, gemm_b), 1e-12);
  EXPECT_GT(tt.tp_exposed_s, mc.tp_exposed_s);
}

}  // namespace
}  // namespace parplan

namespace parplan {
namespace {

TEST(Elementwise, TorchtitanGathersOnceAStepUnderPipelineParallelism) {
  const Model m = load_model("llama3-70b");
  const Cluster c = load_cluster("dgx-h100-80g");
  Training t = load_training(R"({"global_batch": 64, "seq_len": 8192, "dtype": "bf16"})");
  const Layout l{.dp = 8, .tp = 1, .pp = 8, .micro_batch = 1, .zero = 3,
                 .recompute = Recompute::Full};  // 8 micro-batches per pipeline
  t.framework = "megatron-core";
  const auto per_mb = cost::predict(m, c, t, l);
  t.framework = "fsdp2";
  const cost::StepWork w = cost::step_work(m, c, t, l);
  ASSERT_TRUE(w.zero3_gather_once);
  const auto once = cost::predict(m, c, t, l);
  // 10 layers per stage gathered once in the step (not 8 micro-batches x forward + backward), and
  // one reduce-scatter of the stage's gradients.
  EXPECT_NEAR(once.time.dp_comm_total, w.dp_reduce_s + 10 * w.zero3_layer_gather_s, 1e-12);
  EXPECT_LT(once.time.dp_comm_total, per_mb.time.dp_comm_total / 4);
  // Memory: the stage's layers stay unsharded, with 16-bit weights and gradients (2 + 2 bytes).
  EXPECT_NEAR(once.memory.gathered_layers, once.memory.layer_params * 4.0, 1.0);
}

}  // namespace
}  // namespace parplan
