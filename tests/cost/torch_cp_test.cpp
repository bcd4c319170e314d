// Ring attention as PyTorch's context parallel runs it under torchtitan (examples/frameworks/
// fsdp2.json "context_parallel"; cost/src/context_parallel.cpp): K, V passed as SDPA reads them
// (expanded to every query head), dK, dV in fp32, one all-gather per pass, the per-step merges,
// the forward's exchange rerun by full recomputation, FlashAttention-2's backward rate.
#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>

#include <nlohmann/json.hpp>

#include "parplan/cost/context_parallel.hpp"
#include "parplan/cost/framework.hpp"
#include "parplan/cost/step.hpp"
#include "parplan/model/io.hpp"

namespace parplan {
namespace {

// Llama 3 8B (32 heads, 8 KV heads of 128) at 128K over CP 4 inside one H100 node: 32,768
// local tokens.
Training long_train(const std::string& framework, Switch compile) {
  Training t = load_training(R"({"global_batch": 2, "seq_len": 131072, "dtype": "bf16"})");
  t.framework = framework;
  t.compile = compile;
  return t;
}
Layout cp4(Recompute rc = Recompute::None) {
  Layout l{.dp = 2, .tp = 1, .pp = 1, .cp = 4, .micro_batch = 1};
  l.cp_kind = CpKind::Ring;
  l.recompute = rc;
  return l;
}
cost::CpWork cp_work(const Training& t, const Layout& l) {
  const Model m = load_model("llama3-8b");
  const Cluster c = load_cluster("dgx-h100-80g");
  return cost::context_parallel_work(m, c, t, l, cost::layer_compute(m, c, t, l));
}

TEST(TorchCp, KvBlocksAreTheExpandedSdpaInputsAndGradientsFp32) {
  // Megatron-Core passes the 8 KV heads: 32768 * 2 * 8 * 128 * 2 bytes; backward K, V and dK, dV
  // alike. torchtitan repeats K, V to 32 heads before SDPA, which CP shards and passes on: 4x
  // that; dK, dV accumulate and travel in fp32 (_cp_options.convert_to_f32): 2x the bf16 block.
  const auto mc = cp_work(long_train("megatron-core", Switch::Default), cp4());
  EXPECT_DOUBLE_EQ(mc.ring_kv_block_bytes, 134'217'728.0);
  EXPECT_DOUBLE_EQ(mc.ring_bwd_block_bytes, 268'435'456.0);
  EXPECT_DOUBLE_EQ(mc.fwd_bytes, 3 * 134'217'728.0);
  const auto tt = cp_work(long_train("fsdp2", Switch::On), cp4());
  EXPECT_DOUBLE_EQ(tt.ring_kv_block_bytes, 536'870'912.0);
  EXPECT_DOUBLE_EQ(tt.ring_bwd_block_bytes, 536'870'912.0 + 1'073'741'824.0);
  EXPECT_DOUBLE_EQ(tt.bwd_bytes, 3 * (536'870'912.0 + 1'073'741'824.0));
}

TEST(TorchCp, MergePassesByHandCompiledAndEager) {
  // Three ring steps after the local block. Compiled (inductor fuses each chain): per step 10
  // bytes per output element (32768 * 4096) and 4 per K, V element (32768 * 8192, expanded) in
  // forward; 10 per Q element and 10 + 4 per K, V element in backward.
  const Model m = load_model("llama3-8b");
  const Cluster c = load_cluster("dgx-h100-80g");
  const double rate = c.gpu.memory_bytes_per_s * c.efficiency.memory_bound;
  const double o = 32768.0 * 4096, kv = 32768.0 * 8192;
  const auto fused = cost::cp_merge_time(m, c, long_train("fsdp2", Switch::On), cp4());
  EXPECT_NEAR(fused.fwd_s * rate, 3 * (10 * o + 4 * kv), 1.0);
  EXPECT_NEAR(fused.bwd_s * rate, 3 * (10 * o + 14 * kv), 1.0);
  // Eager: out.to(float32) and the sigmoid merge are separate kernels (38 bytes per element),
  // dK, dV partial update + cat 21.
  const auto eager = cost::cp_merge_time(m, c, long_train("fsdp2", Switch::Off), cp4());
  EXPECT_NEAR(eager.fwd_s * rate, 3 * (38 * o + 4 * kv), 1.0);
  EXPECT_NEAR(eager.bwd_s * rate, 3 * (10 * o + 25 * kv), 1.0);
  // Transformer Engine's merges are fused into its kernels: none counted; no CP, none at all.
  EXPECT_DOUBLE_EQ(cost::cp_merge_time(m, c, long_train("megatron-core", Switch::Default), cp4()).fwd_s, 0.0);
  Layout one = cp4();
  one.cp = 1, one.dp = 8;
  EXPECT_DOUBLE_EQ(cost::cp_merge_time(m, c, long_train("fsdp2", Switch::On), one).bwd_s, 0.0);
  // The merges are part of the layer's attention core: forward and backward grow by them.
  const auto with = cost::layer_compute(m, c, long_train("fsdp2", Switch::On), cp4());
  const auto mc = cost::layer_compute(m, c, long_train("megatron-core", Switch::Default), cp4());
  EXPECT_GT(with.fwd_attention_core_s, mc.fwd_attention_core_s);
}

TEST(TorchCp, FullRecomputationRerunsTheForwardExchange) {
  for (const char* fw : {"fsdp2", "megatron-core"}) {
    const auto none = cp_work(long_train(fw, Switch::On), cp4(Recompute::None));
    const auto full = cp_work(long_train(fw, Switch::On), cp4(Recompute::Full));
    EXPECT_DOUBLE_EQ(none.recompute_exposed_s, 0.0) << fw;
    EXPECT_GT(full.recompute_exposed_s, 0.0) << fw;
    EXPECT_DOUBLE_EQ(full.recompute_exposed_s, full.fwd_exposed_s) << fw;
    EXPECT_NEAR(full.bwd_exposed_s - none.bwd_exposed_s, full.fwd_exposed_s, 1e-15) << fw;
  }
}

TEST(TorchCp, AllGatherAcrossNodesIsExposedBeyondTheLocalBlock) {
  // TP 8 fills the node, so the CP 8 group spans 8 nodes: torch's one all-gather of 8 blocks
  // overlaps only the local block's attention (an eighth of the forward attention core), so all
  // of it beyond that block is exposed.
  const Model m = load_model("llama3-405b");
  const Cluster c = load_cluster("dgx-h100-80g");
  Layout l{.dp = 1, .tp = 8, .pp = 1, .cp = 8, .micro_batch = 1};
  l.cp_kind = CpKind::Ring;
  Training t = long_train("fsdp2", Switch::On);
  t.seq_len = 262144, t.global_batch = 1;
  const auto lc = cost::layer_compute(m, c, t, l);
  const auto ag = cost::context_parallel_work(m, c, t, l, lc);
  EXPECT_GT(ag.fwd_exposed_s, ag.fwd_s - lc.fwd_attention_core_s / 8 - 1e-12);
  EXPECT_GT(ag.fwd_exposed_s, 0.1 * ag.fwd_s);
}

TEST(TorchCp, FrameworkFileReadsAndChecksTheNewKeys) {
  Diagnostics d;
  const auto f = cost::framework_from_json(nlohmann::json::parse(R"({
    "attention_kernel": {"efficiency": {"hopper": 0.35}, "bwd_efficiency": {"hopper": 0.3}},
    "context_parallel": {"kv_all_gather": true, "grad_bytes": 4,
                         "eager": {"fwd_out": 38}, "compiled": {"fwd_out": 10}}})"),
                                           d);
  EXPECT_TRUE(d.ok());
  EXPECT_DOUBLE_EQ(f.attention_bwd_efficiency.at("hopper"), 0.3);
  EXPECT_TRUE(f.cp.kv_all_gather);
  EXPECT_DOUBLE_EQ(f.cp.grad_bytes, 4.0);
  EXPECT_DOUBLE_EQ(f.cp.eager.fwd_out, 38.0);
  EXPECT_DOUBLE_EQ(f.cp.compiled.fwd_out, 10.0);
  EXPECT_LT(f.cp.compiled.bwd_q, 0.0);  // unset: as eager
  Diagnostics bad;
  cost::framework_from_json(nlohmann::json::parse(R"({
    "attention_kernel": {"bwd_efficiency": {"hopper": 1.5}},
    "context_parallel": {"grad_bytes": 16}})"),
                            bad);
  EXPECT_FALSE(bad.ok());
  std::string msg;
  for (const auto& e : bad.errors) msg += e + "\n";
  EXPECT_NE(msg.find("framework.attention_kernel.bwd_efficiency.hopper"), std::string::npos);
  EXPECT_NE(msg.find("framework.context_parallel.grad_bytes"), std::string::npos);
}

TEST(TorchCp, FlashAttention2BackwardRunsAtItsPublishedRate) {
  // fsdp2's FlashAttention-2 on Hopper: forward 0.35 of the peak, backward 0.326 (FA3 paper).
  // Against the same framework file without the backward rate, at 32K without CP the layer's
  // backward is longer by exactly 2.5 forward attention cores times 0.35 / 0.326 - 1.
  const Model m = load_model("llama3-8b");
  const Cluster c = load_cluster("dgx-h100-80g");
  Training t = long_train("fsdp2", Switch::On);
  t.seq_len = 32768, t.global_batch = 8;
  const Layout l{.dp = 8, .micro_batch = 1};
  nlohmann::json j = nlohmann::json::parse(find_preset_text("frameworks", "fsdp2"));
  ASSERT_TRUE(j["attention_kernel"].contains("bwd_efficiency"));
  const double bwd = j["attention_kernel"]["bwd_efficiency"]["hopper"].get<double>();
  EXPECT_DOUBLE_EQ(bwd, 0.326);
  j["attention_kernel"].erase("bwd_efficiency");
  const std::string path = ::testing::TempDir() + "fsdp2-no-bwd-rate.json";
  std::ofstream(path) << j.dump();
  Training same = t;
  same.framework = path;
  const auto lc = cost::layer_compute(m, c, t, l);
  const auto ref = cost::layer_compute(m, c, same, l);
  EXPECT_DOUBLE_EQ(lc.fwd_s, ref.fwd_s);
  EXPECT_NEAR(lc.bwd_s - ref.bwd_s, 2.5 * lc.fwd_attention_core_s * (0.35 / bwd - 1), 1e-12);
  std::remove(path.c_str());
}

}  // namespace
}  // namespace parplan
