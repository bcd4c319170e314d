// Issue 21 item 9: one MFU convention everywhere (cost/fp8.hpp utilization_peak_flops): model
// FLOPs per second per GPU against the dense peak of the dtype the linear GEMMs run in. Over FP8,
// BF16 and FP32 clusters and a grid of layouts, MFU and HFU stay at or below 100% by construction
// (the BF16-peak convention gave 104-129% for FP8 on H100).
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "parplan/cost/fp8.hpp"
#include "parplan/cost/step.hpp"
#include "parplan/model/error.hpp"
#include "parplan/model/io.hpp"

using namespace parplan;
using namespace parplan::cost;

namespace {
struct Case {
  std::string cluster;
  DType dtype;
  double peak;  // the datasheet dense peak of that dtype in the preset, FLOP/s
};
}  // namespace

TEST(MfuConvention, AtMostOneHundredPercentOverFp8Bf16AndFp32Clusters) {
  // Peaks as the presets give them (examples/clusters, NVIDIA datasheets, dense).
  const std::vector<Case> cases = {{"dgx-h100-80g", DType::FP8, 1979e12},
                                   {"dgx-h100-80g", DType::BF16, 989e12},
                                   {"dgx-a100-80g", DType::BF16, 312e12},
                                   {"dgx-a100-80g", DType::FP32, 19.5e12}};
  int predicted = 0, above_under_bf16_convention = 0;
  double worst = 0;
  for (const auto& k : cases) {
    Cluster c = load_cluster(k.cluster);
    // The cited (higher) GEMM efficiencies, not the shipped fit: the bound must hold by
    // construction however fast the GEMMs are.
    c.efficiency = prior_efficiency(c.gpu);
    ASSERT_DOUBLE_EQ(c.gpu.peak_flops(k.dtype), k.peak) << k.cluster;
    for (const char* model : {"gpt2-124m", "llama3-8b", "llama3-70b", "gpt3-175b"}) {
      const Model m = load_model(model);
      Training t = load_training("gpt3-1536");
      t.dtype = k.dtype;
      for (int tp : {1, 2, 4, 8})
        for (int pp : {1, 2, 4, 8})
          for (int mb : {1, 2, 4})
            for (auto rc : {Recompute::None, Recompute::Selective}) {
              Layout l;
              l.tp = tp;
              l.pp = pp;
              l.dp = 64 / (tp * pp);
              l.micro_batch = mb;
              l.recompute = rc;
              l.sequence_parallel = tp > 1;
              l.zero = 1;
              StepCost s;
              try {
                s = predict(m, c, t, l);
              } catch (const Error&) {
                continue;  // a layout the model does not take (pp above the layers, ...)
              }
              ++predicted;
              const std::string what = std::string(model) + " on " + k.cluster + " " +
                                       to_string(k.dtype) + " " + describe(l);
              ASSERT_LE(s.mfu, 1.0) << what;
              ASSERT_LE(s.hfu, 1.0) << what;
              ASSERT_LE(s.mfu, s.hfu + 1e-12) << what;
              ASSERT_NEAR(s.mfu, s.model_tflops_per_gpu * 1e12 / k.peak, 1e-12) << what;
              worst = std::max(worst, s.mfu);
              if (s.model_tflops_per_gpu * 1e12 / published_mfu_peak_flops(c.gpu, t) > 1.0)
                ++above_under_bf16_convention;
            }
    }
  }
  EXPECT_GT(predicted, 300) << "the grid must exercise the cost model";
  EXPECT_GT(worst, 0.3) << "some layout reaches a realistic MFU";
  // The old convention (FP8 against the BF16 peak) passes 100% on this grid; the new one cannot.
  EXPECT_GT(above_under_bf16_convention, 0);
}

TEST(MfuConvention, Fp8RunOfGpt3OnH100IsAgainstTheFp8Peak) {
  // The case: GPT-3 175B on 1,024 H100 in FP8 printed 85.7% against the BF16 peak.
  const Model m = load_model("gpt3-175b");
  const Cluster c = load_cluster("dgx-h100-80g");
  Training t = load_training("gpt3-1536");
  t.dtype = DType::FP8;
  Layout l;
  l.dp = 16;
  l.tp = 8;
  l.pp = 8;
  l.sequence_parallel = true;
  l.recompute = Recompute::Selective;
  l.zero = 1;
  const StepCost s = predict(m, c, t, l);
  EXPECT_DOUBLE_EQ(s.mfu, s.model_tflops_per_gpu * 1e12 / 1979e12);
  EXPECT_DOUBLE_EQ(s.mfu * 1979.0 / 989.0,
                   s.model_tflops_per_gpu * 1e12 / published_mfu_peak_flops(c.gpu, t));
  EXPECT_LT(s.mfu, 0.6);
}
