// Framework behaviours (examples/frameworks/*.json) and the overlap switches they default.
#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <vector>

#include <nlohmann/json.hpp>

#include "parplan/cost/compute.hpp"
#include "parplan/cost/framework.hpp"
#include "parplan/cost/step.hpp"
#include "test_inputs.hpp"

namespace parplan {
namespace {

using cost::framework_behaviour;
using cost::predict;

Training with_framework(Training t, const std::string& fw) {
  t.framework = fw;
  return t;
}

TEST(Framework, PresetsCarryTheirDocumentedBehaviours) {
  Training t = test::gpt3_train();
  const auto& mc = framework_behaviour(with_framework(t, ""));
  EXPECT_EQ(mc.name, "megatron-core");
  EXPECT_FALSE(mc.overlap_grad_reduce);  // Megatron-LM: --overlap-grad-reduce is opt-in
  const auto& ds = framework_behaviour(with_framework(t, "deepspeed"));
  EXPECT_TRUE(ds.dp_flat_ring);
  EXPECT_EQ(ds.zero3_gathers_per_layer, 6);
  EXPECT_DOUBLE_EQ(ds.zero3_prefetch_elements, 5e7);  // stage3_prefetch_bucket_size
  const auto& fs = framework_behaviour(with_framework(t, "fsdp2"));
  EXPECT_DOUBLE_EQ(fs.grad_reduce_bytes, 4.0);  // torchtitan mixed_precision_reduce = float32
  EXPECT_TRUE(fs.overlap_grad_reduce);
  EXPECT_EQ(cost::framework_names().size(), 6u);  // + parplan-runtime, llm-foundry
}

TEST(Framework, UnknownNameIsAnErrorNamingTheField) {
  Training t = with_framework(test::gpt3_train(), "jax-magic");
  Layout l{.dp = 8, .micro_batch = 1};
  try {
    predict(test::gpt3(), test::a100(), t, l);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("train.framework"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("fsdp2"), std::string::npos) << e.what();
  }
}

TEST(Framework, AFrameworkFileIsReadLikeAPreset) {
  const std::string path = testing::TempDir() + "/my-fw.json";
  std::ofstream(path) << R"({"name": "my-fw", "dp_ring": "flat", "zero3": {"gathers_per_layer": 3}})";
  const auto& f = framework_behaviour(with_framework(test::gpt3_train(), path));
  EXPECT_TRUE(f.dp_flat_ring);
  EXPECT_EQ(f.zero3_gathers_per_layer, 3);
  std::remove(path.c_str());
}

TEST(Framework, AFileThatExtendsAPresetKeepsWhatItDoesNotRestate) {
  const std::string path = testing::TempDir() + "/my-fsdp.json";
  std::ofstream(path) << R"({"extends": "fsdp2", "name": "my-fsdp",
    "attention_kernel": {"efficiency": {"ampere": 0.3}}, "kernels": {"dense_layer": {"fwd": 22}}})";
  const Training t = test::gpt3_train();
  const auto& base = framework_behaviour(with_framework(t, "fsdp2"));
  const auto& f = framework_behaviour(with_framework(t, path));
  EXPECT_EQ(f.name, "my-fsdp");
  // Objects merge key by key: the new generation joins fsdp2's Hopper rate, the forward count
  // replaces fsdp2's and its backward count stays.
  EXPECT_EQ(f.attention_efficiency,
            (std::map<std::string, double>{{"ampere", 0.3}, {"hopper", 0.35}}));
  EXPECT_DOUBLE_EQ(f.kernels.dense_fwd, 22);
  EXPECT_DOUBLE_EQ(f.kernels.dense_bwd, base.kernels.dense_bwd);
  EXPECT_GT(base.kernels.dense_fwd, 22);
  // Everything not restated is fsdp2's.
  EXPECT_TRUE(f.eager.has_eager);
  EXPECT_DOUBLE_EQ(f.eager.cross_entropy, base.eager.cross_entropy);
  EXPECT_DOUBLE_EQ(f.grad_reduce_bytes, 4.0);
  EXPECT_TRUE(f.zero3_gather_once_with_pp);
  EXPECT_DOUBLE_EQ(f.host.dispatch_fwd_s, base.host.dispatch_fwd_s);
  std::remove(path.c_str());
}

TEST(Framework, ARelativeExtendsIsReadNextToTheFileThatNamesIt) {
  // The pair lives in its own folder; the test runs from the build folder, where "base.json"
  // does not exist, so only the path beside the extending file can resolve it.
  const std::filesystem::path dir = std::filesystem::path(testing::TempDir()) / "fw-pair";
  std::filesystem::create_directories(dir);
  std::ofstream(dir / "base.json") << R"({"extends": "fsdp2", "name": "base", "dp_ring": "flat"})";
  std::ofstream(dir / "child.json") << R"({"extends": "base.json", "name": "child",
    "zero3": {"gathers_per_layer": 3}})";
  ASSERT_FALSE(std::filesystem::exists("base.json"));
  const auto& f = framework_behaviour(with_framework(test::gpt3_train(), (dir / "child.json").string()));
  EXPECT_EQ(f.name, "child");
  EXPECT_TRUE(f.dp_flat_ring);  // from base.json, found beside child.json
  EXPECT_EQ(f.zero3_gathers_per_layer, 3);
  EXPECT_FALSE(framework_behaviour(with_framework(test::gpt3_train(), "fsdp2")).dp_flat_ring);
  std::filesystem::remove_all(dir);
}

TEST(Framework, ABadExtendsIsAnErrorNamingTheField) {
  const std::string dir = testing::TempDir();
  const Training t = test::gpt3_train();
  auto message = [&](const std::string& path) {
    try {
      framework_behaviour(with_framework(t, path));
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  const std::string unknown = dir + "/ext-unknown.json", self = dir + "/ext-self.json",
                    wrong = dir + "/ext-wrong.json";
  std::ofstream(unknown) << R"({"extends": "jax-magic"})";
  std::ofstream(self) << R"({"extends": ")" + self + R"("})";
  std::ofstream(wrong) << R"({"extends": 3})";
  EXPECT_NE(message(unknown).find(".extends: unknown framework \"jax-magic\""), std::string::npos)
      << message(unknown);
  EXPECT_NE(message(self).find("cycle"), std::string::npos) << message(self);
  EXPECT_NE(message(wrong).find("ext-wrong.json.extends: must be the name"), std::string::npos)
      << message(wrong);
  for (const auto& p : {unknown, self, wrong}) std::remove(p.c_str());
}

TEST(Framework, LlmFoundryRunsFsdp2WithItsTritonFlashKernelRates) {
  // examples/frameworks/llm-foundry.json extends fsdp2: FlashAttention-2 is ~1.4x faster than the
  // Triton kernel forward and ~2x backward (Dao 2023 sec. 4.1), carried to H100.
  const Model m = test::gpt3();
  const Training fs = with_framework(test::gpt3_train(), "fsdp2");
  const Training lf = with_framework(test::gpt3_train(), "llm-foundry");
  const Layout l{.dp = 8, .tp = 8, .micro_batch = 1};
  const Cluster h100 = load_cluster("dgx-h100-80g");
  const auto a = cost::layer_compute(m, h100, fs, l), b = cost::layer_compute(m, h100, lf, l);
  EXPECT_NEAR(b.fwd_attention_core_s / a.fwd_attention_core_s, 1.4, 0.02);
  EXPECT_DOUBLE_EQ(b.fwd_linear_s, a.fwd_linear_s);
  EXPECT_GT(b.bwd_s, a.bwd_s);
  // On A100 fsdp2 names no rate (the GEMM shape model prices the core, g(head dim) included);
  // llm-foundry's kernel runs FlashAttention-2 fig. 4's Triton rate, flat in head dim: a model
  // with head dim 64 (twice the heads, the same FLOPs) costs it the same, the GEMM model more.
  Model hd64 = m;
  hd64.heads = 2 * m.heads;
  hd64.kv_heads = 2 * m.kv_heads;
  const Cluster a100 = test::a100();
  const auto c = cost::layer_compute(m, a100, fs, l), c64 = cost::layer_compute(hd64, a100, fs, l);
  const auto d = cost::layer_compute(m, a100, lf, l), d64 = cost::layer_compute(hd64, a100, lf, l);
  EXPECT_NEAR(d64.fwd_attention_core_s / d.fwd_attention_core_s, 1.0, 1e-9);
  EXPECT_GT(c64.fwd_attention_core_s / c.fwd_attention_core_s, 1.2);
  EXPECT_NE(d.fwd_attention_core_s, c.fwd_attention_core_s);
  EXPECT_EQ(framework_behaviour(lf).name, "llm-foundry");
  EXPECT_EQ(framework_behaviour(lf).zero3_regather_in_backward,
            framework_behaviour(fs).zero3_regather_in_backward);
}

TEST(Framework, AWrongFieldIsAnErrorNamingItsPathAndKeepsTheDefault) {
  Diagnostics d;
  const auto f = cost::framework_from_json(nlohmann::json::parse(R"({
    "zero3": {"prefetch_depth": 65, "regather_in_backward": 1, "gathers_per_layer": 2},
    "dp_ring": "ring", "grad_reduce": {"dtype": "fp8"},
    "kernels": {"moe": {"host_syncs": "many"}, "dense_layer": {"fwd": 12}},
    "attention_kernel": {"efficiency": {"hopper": 1.5, "ampere": 0.6}, "bwd_efficiency": 0.5},
    "host": {"dispatch_fwd_us": 8}})"),
                                           d, "framework x");
  const std::vector<std::string> want = {
      "framework x.zero3.regather_in_backward: must be true or false",
      "framework x.zero3.prefetch_depth: must be a number in [0.000000, 64.000000]",
      "framework x.grad_reduce.dtype: unknown value; use grad, fp32, bf16 or fp16",
      "framework x.dp_ring: unknown value; use flat or nccl",
      "framework x.attention_kernel.efficiency.hopper: must be a number in (0, 1]",
      "framework x.attention_kernel.bwd_efficiency: must be an object of GPU generation: share of peak",
      "framework x.kernels.moe.host_syncs: must be a number in [0.000000, 100.000000]"};
  EXPECT_EQ(d.errors, want);
  const cost::FrameworkBehaviour defaults;
  EXPECT_EQ(f.zero3_prefetch_depth, defaults.zero3_prefetch_depth);
  EXPECT_EQ(f.zero3_regather_in_backward, defaults.zero3_regather_in_backward);
  EXPECT_EQ(f.dp_flat_ring, defaults.dp_flat_ring);
  EXPECT_EQ(f.kernels.moe_host_syncs, defaults.kernels.moe_host_syncs);
  // The right fields beside them are read, the microseconds as seconds.
  EXPECT_EQ(f.zero3_gathers_per_layer, 2);
  EXPECT_EQ(f.kernels.dense_fwd, 12);
  EXPECT_EQ(f.attention_efficiency, (std::map<std::string, double>{{"ampere", 0.6}}));
  EXPECT_DOUBLE_EQ(f.host.dispatch_fwd_s, 8e-6);
}

TEST(Framework, DeepSpeedZero3GathersEachModuleOverOneFlatRing) {
  // GPT-3 175B on 1,536 A100s, ZeRO-3 without model parallelism (Narayanan et al. 2021 fig. 10's
  // setting). One layer: 12 h^2 + 13 h parameters, 2 bytes each, gathered as 6 module
  // all-gathers over one flat ring of 1,536 GPUs, each hop at one GPU's NIC share:
  // 25 GB/s * inter_node_link (the shipped A100 value); latency: NCCL base 8.4 us, 191 steps between
  // the 192 nodes at 5 us (NIC) + 2 us (NVSwitch), the other 1,344 at 2 us.
  const Model m = test::gpt3();
  const Cluster c = test::a100();
  const Training t = with_framework(test::gpt3_train(), "deepspeed");
  const Layout l{.dp = 1536, .micro_batch = 1, .zero = 3, .recompute = Recompute::Full};
  const double h = 12288, n = 1536;
  const double module_bytes = (12 * h * h + 13 * h) * 2 / 6;
  const double one = 8.4e-6 + 191 * 7e-6 + 1344 * 2e-6 + (n - 1) / n * module_bytes / (25e9 * c.efficiency.inter_node_link);
  const cost::StepWork w = cost::step_work(m, c, t, l);
  EXPECT_NEAR(w.zero3_layer_gather_s, 6 * one, 0.01 * 6 * one);
  // 175B parameters > 50M prefetch elements per module: nothing is fetched ahead, so every
  // forward and backward gather shows: at least 96 layers * 2 * 6 * one.
  const cost::StepCost s = predict(m, c, t, l);
  EXPECT_GT(s.time.dp_comm_exposed, 96 * 2 * 6 * one * 0.99);
  EXPECT_GT(s.time.dp_comm_exposed, s.time.compute);  // communication-bound
}

TEST(Framework, ThreeDParallelismBeatsDeepSpeedZero3OnGpt3At384To1536Gpus) {
  // Narayanan et al. 2021 fig. 10 measured PTD-P (tp 8, pp 12) above ZeRO-3 at 384, 768 and
  // 1,536 A100s for GPT-3 175B at global batch 1,536; the model must rank them the same way.
  const Model m = test::gpt3();
  const Cluster c = test::a100();
  const Training t = test::gpt3_train();
  for (int gpus : {384, 768, 1536}) {
    const Layout ptdp{.dp = gpus / 96, .tp = 8, .pp = 12, .micro_batch = 1,
                      .recompute = Recompute::Full};
    const Layout z3{.dp = gpus, .micro_batch = 1536 / gpus, .zero = 3,
                    .recompute = Recompute::Full};
    const double a = predict(m, c, t, ptdp).hardware_tflops_per_gpu;
    const double b = predict(m, c, with_framework(t, "deepspeed"), z3).hardware_tflops_per_gpu;
    EXPECT_GT(a, b) << gpus << " GPUs";
  }
}

TEST(Framework, OverlapSwitchesDefaultToTheFrameworkAndCanBeForced) {
  const Model m = load_model("gpt2-124m");
  const Cluster c = test::a100();
  Training t = load_training("gpt2-512");
  const Layout l{.dp = 8, .micro_batch = 8};
  // Megatron-Core default: the gradient all-reduce runs after the backward, all of it shows.
  const cost::StepCost off = predict(m, c, t, l);
  EXPECT_DOUBLE_EQ(off.time.dp_comm_exposed, off.time.dp_comm_total);
  t.overlap_grad_reduce = Switch::On;
  const cost::StepCost on = predict(m, c, t, l);
  EXPECT_LT(on.time.dp_comm_exposed, off.time.dp_comm_exposed);
  // FSDP2's default overlaps; forcing it off shows everything again.
  Training f = with_framework(load_training("gpt2-512"), "fsdp2");
  const Layout z3{.dp = 8, .micro_batch = 8, .zero = 3};
  const cost::StepCost fo = predict(m, c, f, z3);
  EXPECT_LT(fo.time.dp_comm_exposed, fo.time.dp_comm_total);
}

TEST(Framework, TpCommOverlapHidesTpCollectivesBehindGemms) {
  const Model m = load_model("llama3-70b");
  const Cluster c = load_cluster("dgx-h100-80g");
  Training t = load_training("llama3-8k");
  const Layout l{.dp = 1, .tp = 8, .pp = 8, .micro_batch = 1, .sequence_parallel = true};
  const cost::StepCost off = predict(m, c, t, l);
  t.tp_comm_overlap = Switch::On;
  const cost::StepCost on = predict(m, c, t, l);
  EXPECT_GT(off.time.tp_comm, 0);
  // The hidden part still costs overlap_slowdown (20%) of itself: between 20% and 100% remains.
  EXPECT_LT(on.time.tp_comm, off.time.tp_comm);
  EXPECT_GE(on.time.tp_comm, 0.2 * off.time.tp_comm * 0.999);
}

}  // namespace
}  // namespace parplan
