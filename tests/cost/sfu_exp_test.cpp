// Softmax's exponentials on the special function units (cluster gpu.exp_Tps, cost/floors.cpp,
// attention.hpp attention_exp_time) and the Blackwell presets' rated power (gpu.tdp_W).
#include <gtest/gtest.h>

#include <cmath>
#include <nlohmann/json.hpp>

#include "parplan/cost/attention.hpp"
#include "parplan/cost/compute.hpp"
#include "parplan/cost/floors.hpp"
#include "parplan/model/io.hpp"

using namespace parplan;
using namespace parplan::cost;

namespace {
Training llama_8k() {
  Training t;
  t.global_batch = 128, t.seq_len = 8192, t.dtype = DType::BF16;
  t.framework = "megatron-core";
  t.flash_attention = true;
  return t;
}
Layout one_gpu() {
  Layout l;
  l.micro_batch = 1;
  return l;
}
}  // namespace

TEST(SfuExponentials, RatePerGenerationAndBlackwellUltraDoublesIt) {
  EXPECT_DOUBLE_EQ(gpu_floors(load_cluster("dgx-a100-80g").gpu).exp_per_s, 2.4e12);
  EXPECT_DOUBLE_EQ(gpu_floors(load_cluster("dgx-h100-80g").gpu).exp_per_s, 3.9e12);
  EXPECT_DOUBLE_EQ(gpu_floors(load_cluster("gb200-nvl72").gpu).exp_per_s, 5e12);
  EXPECT_DOUBLE_EQ(gpu_floors(load_cluster("dgx-b200").gpu).exp_per_s, 5e12);
  // Blackwell Ultra's presets carry their own rate (10.7 TeraExponentials/s).
  EXPECT_NEAR(gpu_floors(load_cluster("gb300-nvl72").gpu).exp_per_s, 10.7e12, 1e3);
  EXPECT_NEAR(gpu_floors(load_cluster("dgx-b300").gpu).exp_per_s, 10.7e12, 1e3);
  EXPECT_EQ(gpu_floors(load_cluster("cpu-host").gpu).exp_per_s, 0.0);
}

TEST(SfuExponentials, OneExponentialPerScoreOfEveryLocalHead) {
  const Model m = load_model("llama3-8b");  // 32 query heads
  const Cluster gb200 = load_cluster("gb200-nvl72"), gb300 = load_cluster("gb300-nvl72");
  const double scores = 2.0 * 16 * 8192.0 * 8192.0;  // micro-batch 2, 32 heads over TP 2
  EXPECT_NEAR(attention_exp_time(m, gb200, 8192, 8192, 2, 2), scores / 5e12, 1e-12);
  EXPECT_NEAR(attention_exp_time(m, gb200, 8192, 8192, 2, 2) /
                  attention_exp_time(m, gb300, 8192, 8192, 2, 2),
              10.7 / 5.0, 1e-9);
  // A power cap slows the SFU with the clock.
  Cluster capped = gb200;
  capped.gpu.floors.power_limit_W = 600;
  EXPECT_NEAR(attention_exp_time(m, capped, 8192, 8192, 2, 2) /
                  attention_exp_time(m, gb200, 8192, 8192, 2, 2),
              1.0 / std::cbrt(600.0 / 1200.0), 1e-9);
}

TEST(SfuExponentials, AFlashPassTakesTheLongerOfItsMmasAndItsExponentials) {
  const Model m = load_model("llama3-8b");
  const Training t = llama_8k();
  const Layout l = one_gpu();
  Cluster c = load_cluster("gb200-nvl72");
  const LayerCompute preset = layer_compute(m, c, t, l);
  // Head dimension 128: the MMAs outlast the exponentials, so the preset's rate and an SFU
  // without limit price the layer alike.
  Cluster unlimited = c;
  unlimited.gpu.floors.exp_per_s = 1e18;
  const LayerCompute mma_only = layer_compute(m, unlimited, t, l);
  EXPECT_DOUBLE_EQ(preset.fwd_s, mma_only.fwd_s);
  EXPECT_DOUBLE_EQ(preset.bwd_s, mma_only.bwd_s);
  EXPECT_GT(preset.fwd_attention_core_s, 0.0);
  // A GPU whose SFU is 100x slower: the forward's attention core is the exponentials' time
  // (causal: half the square and the diagonal blocks), and the backward, which recomputes P,
  // pays them again.
  Cluster slow = c;
  slow.gpu.floors.exp_per_s = 5e10;
  const LayerCompute bound = layer_compute(m, slow, t, l);
  const double causal = 0.5 * (1.0 + 128.0 / 8192.0);
  const double exps = causal * 32 * 8192.0 * 8192.0 / 5e10;
  EXPECT_NEAR(bound.fwd_attention_core_s, exps, 1e-9 * exps);
  EXPECT_NEAR(bound.fwd_s - preset.fwd_s, exps - preset.fwd_attention_core_s, 1e-9 * exps);
  EXPECT_GT(bound.bwd_s, preset.bwd_s + 0.5 * exps);
  // Standard attention (no flash kernel) is priced as before: its softmax is a memory-bound pass.
  Training eager = t;
  eager.flash_attention = false;
  EXPECT_DOUBLE_EQ(layer_compute(m, slow, eager, l).fwd_s, layer_compute(m, c, eager, l).fwd_s);
}

TEST(SfuExponentials, ClusterFileRateIsReadCheckedAndWritten) {
  nlohmann::json j = nlohmann::json::parse(find_preset_text("clusters", "gb200-nvl72"));
  j["gpu"]["exp_Tps"] = 2.5;
  Diagnostics d;
  const Cluster c = cluster_from_json(j, d);
  ASSERT_TRUE(d.ok());
  EXPECT_DOUBLE_EQ(c.gpu.floors.exp_per_s, 2.5e12);
  const Cluster back = cluster_from_json(to_json(c), d);
  ASSERT_TRUE(d.ok());
  EXPECT_DOUBLE_EQ(back.gpu.floors.exp_per_s, 2.5e12);
  j["gpu"]["exp_Tps"] = 0;
  Diagnostics bad;
  cluster_from_json(j, bad);
  ASSERT_EQ(bad.errors.size(), 1u);
  EXPECT_NE(bad.errors[0].find("gpu.exp_Tps"), std::string::npos) << bad.errors[0];
}

TEST(BlackwellPresets, APowerCapIsMeasuredFromTheBoardsOwnRatedPower) {
  // GB300 1,400 W, GB200 1,200 W, B300 1,100 W, B200 1,000 W (datasheets): a 1,100 W cap slows
  // the GB parts and leaves B300 and B200 at their clock.
  for (const auto& [name, tdp] : {std::pair{"gb300-nvl72", 1400.0}, std::pair{"gb200-nvl72", 1200.0},
                                  std::pair{"dgx-b300", 1100.0}, std::pair{"dgx-b200", 1000.0}}) {
    Cluster c = load_cluster(name);
    EXPECT_DOUBLE_EQ(c.gpu.floors.tdp_W, tdp) << name;
    EXPECT_DOUBLE_EQ(gpu_floors(c.gpu).clock_scale, 1.0) << name;
    c.gpu.floors.power_limit_W = 1100;
    EXPECT_NEAR(gpu_floors(c.gpu).clock_scale, std::min(1.0, std::cbrt(1100.0 / tdp)), 1e-12)
        << name;
  }
}
