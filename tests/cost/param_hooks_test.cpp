// Megatron DDP's hooks per parameter tensor and micro-batch (examples/frameworks/megatron-core.json
// host.param_hooks; floors.cpp layer_floors), on the corpus's Qwen3-30B-A3B B200 row.
#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>
#include <string>

#include "parplan/cost/corpus.hpp"
#include "parplan/cost/floors.hpp"
#include "parplan/cost/framework.hpp"
#include "parplan/cost/step.hpp"
#include "../support/corpus_row.hpp"

using namespace parplan;
using namespace parplan::cost;

namespace {
// megatron-core as shipped, less its parameter hooks.
std::string without_hooks() {
  const std::string path = testing::TempDir() + "/megatron-core-no-hooks.json";
  std::ofstream(path) << R"({"extends": "megatron-core", "name": "megatron-core-no-hooks",
    "host": {"param_hooks": false}})";
  return path;
}
}  // namespace

TEST(ParamHooks, EachParameterTensorCostsTheHostAHookPerMicroBatch) {
  const CorpusRun row = test::corpus_row("mbridge-blackwell/26.02-b200-qwen3-30b-a3b-mxfp8-8gpu");
  const CorpusRun* r = &row;
  const Training& t = r->training;
  const FrameworkBehaviour& fw = framework_behaviour(t);
  ASSERT_TRUE(fw.host.param_hooks);
  ASSERT_EQ(r->layout.ep, 8);
  ASSERT_GE(r->layout.zero, 1);  // distributed optimizer, overlap_param_gather: forward pre-hooks
  Training off = t;
  off.framework = without_hooks();
  ASSERT_FALSE(framework_behaviour(off).host.param_hooks);
  const LayerFloors with = layer_floors(r->model, r->cluster, t, r->layout);
  const LayerFloors none = layer_floors(r->model, r->cluster, off, r->layout);
  // Every Qwen3-30B-A3B layer is MoE: linear_qkv and its fused norm, Q and K norms, linear_proj,
  // the pre-MLP norm, the router, and 16 local experts x (FC1, FC2) weights = 39 tensors.
  const double tensors = 39;
  const double fwd = tensors * fw.host.dispatch_bwd_s;                            // pre-hooks
  const double bwd = tensors * (fw.host.dispatch_bwd_s + fw.host.dispatch_fwd_s);  // post-hooks
  EXPECT_NEAR(with.host_fwd_s - none.host_fwd_s, fwd, 1e-12);
  EXPECT_NEAR(with.host_s - none.host_s, fwd + bwd, 1e-12);
  EXPECT_DOUBLE_EQ(with.device_s, none.device_s);  // host only: no kernel
  // Without the distributed optimizer's overlapped gathers, only the backward's hooks.
  Layout z0 = r->layout;
  z0.zero = 0;
  EXPECT_NEAR(layer_floors(r->model, r->cluster, t, z0).host_s -
                  layer_floors(r->model, r->cluster, off, z0).host_s,
              bwd, 1e-12);
  // The row is host-bound (MBS 1, 16 local experts: the forward's host sync exposes each pass's
  // host time), so the step pays the hooks of every layer and micro-batch, less the slack they
  // first fill.
  const StepCost a = predict(r->model, r->cluster, off, r->layout);
  const StepCost b = predict(r->model, r->cluster, t, r->layout);
  const double n = double(r->model.layers) * double(b.micro_batches);
  std::printf("  B200 Qwen3-30B-A3B row: hooks %.0f us a layer and micro-batch; step %.2f -> %.2f s\n",
              (fwd + bwd) * 1e6, a.step_time_s, b.step_time_s);
  EXPECT_GT(b.step_time_s - a.step_time_s, 0.8 * n * (fwd + bwd));
  EXPECT_LE(b.step_time_s - a.step_time_s, n * (fwd + bwd) * (1 + 1e-9));
}

TEST(ParamHooks, ADenseLayerCountsItsWeightsNormsAndBiases) {
  const CorpusRun row = test::corpus_row("megatron-bridge/25.11-llama3-8b-8gpu");
  const CorpusRun* r = &row;
  ASSERT_FALSE(r->model.is_moe());
  Training off = r->training;
  off.framework = without_hooks();
  Layout l = r->layout;
  l.zero = 0;  // backward hooks only
  const FrameworkBehaviour& fw = framework_behaviour(r->training);
  const double per = fw.host.dispatch_bwd_s + fw.host.dispatch_fwd_s;
  // Llama 3 (RMSNorm, no biases): linear_qkv + its norm, linear_proj, linear_fc1 + its norm,
  // linear_fc2 = 6.
  const double d = layer_floors(r->model, r->cluster, r->training, l).host_s -
                   layer_floors(r->model, r->cluster, off, l).host_s;
  EXPECT_NEAR(d, 6 * per, 1e-12);
  // GPT-style LayerNorm with biases: + the norms' biases (2) and the 4 linears' biases.
  Model g = r->model;
  g.norm = Norm::LayerNorm, g.norm_bias = true, g.qkv_bias = true, g.linear_bias = true;
  EXPECT_NEAR(layer_floors(g, r->cluster, r->training, l).host_s -
                  layer_floors(g, r->cluster, off, l).host_s,
              12 * per, 1e-12);
}
