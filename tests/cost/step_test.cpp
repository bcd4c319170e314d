#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "parplan/cost/pipeline.hpp"
#include "parplan/cost/step.hpp"
#include "test_inputs.hpp"

using namespace parplan;
using namespace parplan::cost;

namespace {
double parts(const StepCost& s) {
  const auto& t = s.time;
  return t.compute + t.tp_comm + t.cp_comm + t.launch_latency + t.pp_comm + t.pp_bubble +
         t.dp_comm_exposed + t.optimizer;
}
}  // namespace

TEST(Predict, BreakdownSumsToTheStepTime) {
  Layout l{.dp = 16, .tp = 8, .pp = 8, .zero = 1, .recompute = Recompute::Selective,
           .sequence_parallel = true};
  StepCost s = predict(test::gpt3(), test::a100(), test::gpt3_train(), l);
  EXPECT_NEAR(parts(s), s.step_time_s, 1e-9 * s.step_time_s);
  EXPECT_GT(s.mfu, 0.2);
  EXPECT_LT(s.mfu, 0.7);
  EXPECT_LE(s.mfu, s.hfu);
  EXPECT_TRUE(s.fits);
}

TEST(Predict, RejectsInvalidLayoutsWithTheFieldName) {
  Layout l{.dp = 16, .tp = 5, .pp = 8};
  try {
    predict(test::gpt3(), test::a100(), test::gpt3_train(), l);
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("layout.tp"), std::string::npos);
  }
}

TEST(Predict, PipelineBubbleIsTheScheduleFractionOfTheIdealStep) {
  // Uniform stages: a model whose embedding and logits are negligible next to its layers.
  Model m = test::gpt3();
  m.vocab = 8;
  Training t = test::gpt3_train();
  t.global_batch = 64;
  Cluster c = test::a100();
  for (int v : {1, 2, 3}) {
    Layout l{.dp = 1, .tp = 8, .pp = 8, .schedule = v > 1 ? Schedule::Interleaved : Schedule::OneFOneB,
             .virtual_stages = v};
    StepCost s = predict(m, c, t, l);
    const double ideal = s.time.compute + s.time.tp_comm;
    EXPECT_NEAR(s.time.pp_bubble / ideal, bubble_fraction(l.schedule, 8, v, 64), 2e-3) << "v " << v;
  }
}

TEST(Predict, DataParallelReductionHidesBehindBackwardWhenComputeIsLong) {
  Model m = load_model("gpt2-124m");
  Cluster c = test::a100();
  Training t = load_training("gpt2-512");
  t.overlap_grad_reduce = Switch::On;  // Megatron --overlap-grad-reduce (off by default)
  Layout l{.dp = 8, .micro_batch = 8};
  StepCost s = predict(m, c, t, l);
  EXPECT_GT(s.time.dp_comm_total, 0);
  EXPECT_LT(s.time.dp_comm_exposed, s.time.dp_comm_total);
}

TEST(Predict, ZeroThreeCommunicatesMoreThanZeroOne) {
  // Rajbhandari et al. 2020 sec. 7: stage 3 moves 1.5x the data of stages 1-2.
  Model m = load_model("llama2-7b");
  Cluster c = test::a100();
  Training t = test::gpt3_train();
  Layout z1{.dp = 64, .micro_batch = 4, .zero = 1};
  Layout z3 = z1;
  z3.zero = 3;
  EXPECT_GT(predict(m, c, t, z3).time.dp_comm_total, predict(m, c, t, z1).time.dp_comm_total);
}

TEST(Predict, RandomValidLayoutsGiveFinitePositiveConsistentCosts) {
  Model m = load_model("llama3-70b");
  Cluster c = load_cluster("dgx-h100-80g");
  Training t = load_training("llama3-8k");
  std::mt19937 rng(7);
  auto pick = [&](std::vector<int> v) { return v[rng() % v.size()]; };
  int checked = 0;
  for (int i = 0; i < 3000 && checked < 300; ++i) {
    Layout l;
    l.tp = pick({1, 2, 4, 8});
    l.pp = pick({1, 2, 4, 5, 10});
    l.cp = pick({1, 2, 4});
    l.dp = pick({1, 2, 4, 8, 16});
    l.micro_batch = pick({1, 2, 4});
    l.zero = pick({0, 1, 2, 3});
    l.recompute = Recompute(pick({0, 1, 2}));
    l.sequence_parallel = l.tp > 1 && pick({0, 1});
    Diagnostics d;
    validate(l, m, c, t, d);
    if (!d.ok()) continue;
    StepCost s = predict(m, c, t, l);
    ASSERT_TRUE(std::isfinite(s.step_time_s) && s.step_time_s > 0) << describe(l);
    ASSERT_NEAR(parts(s), s.step_time_s, 1e-9 * s.step_time_s) << describe(l);
    ASSERT_LE(s.mfu, s.hfu + 1e-12);
    ASSERT_LT(s.mfu, 1.0);
    ++checked;
  }
  EXPECT_GE(checked, 100);
}

TEST(Predict, UnevenStagesPriceTheFullestStageAndItsMemory) {
  // GPT-3 175B (96 layers) on pp 8: even stages hold 12 layers; with 6 on the first and last the
  // six middle stages hold (96 - 12) / 6 = 14, and one of them paces the pipeline.
  Model m = test::gpt3();
  m.vocab = 8;  // negligible embedding and logits: the paced stage is its layers
  Training t = test::gpt3_train();
  t.global_batch = 64;
  Cluster c = test::a100();
  // The embedding's and head's kernels have floors (floors.cpp) however small the vocabulary:
  // without them the paced stage is its layers alone.
  c.gpu.floors.kernel_launch_s = 0;
  c.gpu.floors.kernel_device_s = 0;
  Layout even{.dp = 1, .tp = 8, .pp = 8};
  Layout uneven = even;
  uneven.first_stage_layers = 6;
  uneven.last_stage_layers = 6;
  const StepCost e = predict(m, c, t, even), u = predict(m, c, t, uneven);
  EXPECT_NEAR(u.time.compute / e.time.compute, 14.0 / 12.0, 2e-3);
  // Stage 1 keeps the same micro-batches in flight under 1F1B, with 14 layers instead of 12.
  const MemoryBreakdown me = memory_per_gpu(m, c, t, even, 1), mu = memory_per_gpu(m, c, t, uneven, 1);
  EXPECT_NEAR(mu.layer_activations / me.layer_activations, 14.0 / 12.0, 1e-9);
  EXPECT_NEAR(memory_per_gpu(m, c, t, uneven, 0).layer_activations /
                  memory_per_gpu(m, c, t, even, 0).layer_activations, 6.0 / 12.0, 1e-9);
}
