#include <gtest/gtest.h>

#include <algorithm>
#include <numeric>
#include <vector>

#include "parplan/cost/pipeline.hpp"

using namespace parplan;
using namespace parplan::cost;

TEST(Bubble, EqualsPMinusOneOverVTimesM) {
  // Narayanan et al. 2021 sec. 2.2.
  EXPECT_DOUBLE_EQ(bubble_fraction(Schedule::OneFOneB, 8, 1, 64), 7.0 / 64);
  EXPECT_DOUBLE_EQ(bubble_fraction(Schedule::GPipe, 4, 1, 16), 3.0 / 16);
  EXPECT_DOUBLE_EQ(bubble_fraction(Schedule::Interleaved, 8, 3, 64), 7.0 / 192);
  EXPECT_DOUBLE_EQ(bubble_fraction(Schedule::OneFOneB, 1, 1, 64), 0.0);
}

TEST(Bubble, MicroBatchesAreTheGlobalBatchOverDpTimesMicroBatch) {
  Training t;
  t.global_batch = 1536;
  Layout l{.dp = 16, .micro_batch = 2};
  EXPECT_EQ(micro_batches(t, l), 48);
}

TEST(UnevenStages, FirstAndLastStageLayersAreTheirsAndTheOthersShareTheRest) {
  Model m;
  m.layers = 10;
  Layout l{.pp = 4};
  EXPECT_EQ(stage_layers(m, l, 0), 3);  // even: ceil(10 / 4) on the loaded stages
  EXPECT_EQ(max_stage_layers(m, l), 3);
  l.first_stage_layers = 1;
  l.last_stage_layers = 3;
  // 10 - 1 - 3 = 6 layers over the 2 middle stages: 3 each.
  EXPECT_EQ(stage_layers(m, l, 0), 1);
  EXPECT_EQ(stage_layers(m, l, 1), 3);
  EXPECT_EQ(stage_layers(m, l, 2), 3);
  EXPECT_EQ(stage_layers(m, l, 3), 3);
  l.last_stage_layers = 0;  // only the first stage set: 9 layers over stages 1-3
  EXPECT_EQ(stage_layers(m, l, 3), 3);
  EXPECT_EQ(max_stage_layers(m, l), 3);
}

TEST(UnevenStages, TheSplitSumsToTheModelsLayersAsMegatronRunsIt) {
  Model m;
  m.layers = 61;  // DeepSeek-V3, pp 16 with --decoder-first/last-pipeline-num-layers 3 / 2
  Layout l{.pp = 16};
  l.first_stage_layers = 3;
  l.last_stage_layers = 2;
  std::vector<int64_t> want(16, 4);
  want.front() = 3;
  want.back() = 2;
  EXPECT_EQ(stage_layer_split(m, l), want);
  EXPECT_EQ(chunk_layer_split(m, l), want);
  // Without first/last: ceil(61 / 16) = 4 on the loaded stages, the 3 missing taken from the
  // first and last stages (2 and 1; they hold the embedding and the output layer).
  l.first_stage_layers = l.last_stage_layers = 0;
  const auto even = stage_layer_split(m, l);
  EXPECT_EQ(even.front(), 2);
  EXPECT_EQ(even.back(), 3);
  EXPECT_EQ(std::accumulate(even.begin(), even.end(), int64_t{0}), 61);
  EXPECT_EQ(*std::max_element(even.begin(), even.end()), max_stage_layers(m, l));
  // Interleaved: chunk k of stage r is entry k * pp + r; 10 layers, pp 2, v 2, first 4 / last 6.
  m.layers = 10;
  Layout il{.pp = 2, .virtual_stages = 2};
  il.first_stage_layers = 4;
  il.last_stage_layers = 6;
  EXPECT_EQ(chunk_layer_split(m, il), (std::vector<int64_t>{2, 3, 2, 3}));
}

// Zero-bubble and DualPipe bubbles, in stage-times of one micro-batch, at the zero-bubble paper's
// T_F = T_B = T_W (the default shares: forward 1/3, W 1/3 of F + full backward).
TEST(Bubble, ZeroBubbleAndDualPipeAtEqualPassTimes) {
  const int64_t p = 8;
  // Qi et al. 2024 sec. 3.1: ZB-H1's bubble is (p - 1) T_F = (p - 1) / 3 stage-times.
  EXPECT_NEAR(bubble_stages(Schedule::ZbH1, p, 1), 7.0 / 3, 1e-12);
  // ZB-V: zero at equal pass times (Qi et al.'s ZB-V).
  EXPECT_NEAR(bubble_stages(Schedule::ZbV, p, 1), 0.0, 1e-12);
  // DeepSeek-V3 Table 2: DualPipe (PP/2 - 1)(F&B + B - 3W) = 3 x (1 + 2/3 - 1) = 2.
  EXPECT_NEAR(bubble_stages(Schedule::DualPipe, p, 1), 2.0, 1e-12);
  // DualPipeV: 2p chunks of half a stage: (2p/2 - 1)(2/3) / 2 stage-times.
  EXPECT_NEAR(bubble_stages(Schedule::DualPipeV, p, 1), 7.0 / 3, 1e-12);
  // 1F1B: (p - 1) stage-times; ZB-H1 is a third of it (the paper's "1/3 of 1F1B's bubble").
  EXPECT_NEAR(bubble_stages(Schedule::ZbH1, p, 1) / bubble_stages(Schedule::OneFOneB, p, 1),
              1.0 / 3, 1e-12);
  // Without a weight-gradient split (W = 0) ZB-H1 is 1F1B and ZB-V the V-shaped interleave.
  PassShares no_w{1.0 / 3, 0.0};
  EXPECT_NEAR(bubble_stages(Schedule::ZbH1, p, 1, no_w), 7.0, 1e-12);
  EXPECT_NEAR(bubble_stages(Schedule::ZbV, p, 1, no_w), bubble_stages(Schedule::Interleaved, p, 2),
              1e-12);
  // Never negative when W dominates.
  EXPECT_EQ(bubble_stages(Schedule::ZbV, p, 1, PassShares{0.2, 0.5}), 0.0);
  EXPECT_EQ(bubble_fraction(Schedule::DualPipe, 1, 1, 16), 0.0);
}

TEST(Pipeline, InFlightActivationsPerSchedule) {
  const int64_t p = 8, m = 64;
  EXPECT_EQ(in_flight_stages(Schedule::OneFOneB, p, 1, m, 0), 8);
  EXPECT_EQ(in_flight_stages(Schedule::OneFOneB, p, 1, m, 7), 1);
  // Zero-bubble: 1F1B's peak p M_B, reached by every stage (deferred W).
  EXPECT_EQ(in_flight_stages(Schedule::ZbH1, p, 1, m, 0), 8);
  EXPECT_EQ(in_flight_stages(Schedule::ZbH1, p, 1, m, 7), 8);
  EXPECT_EQ(in_flight_stages(Schedule::ZbV, p, 1, m, 3), 8);
  // DeepSeek-V3 Table 2: DualPipe PP + 1; DualPipeV (2p + 1) half-stage chunks.
  EXPECT_EQ(in_flight_stages(Schedule::DualPipe, p, 1, m, 0), 9);
  EXPECT_EQ(in_flight_stages(Schedule::DualPipeV, p, 1, m, 5), 8.5);
  // Megatron-Core's all-to-all overlap: one more micro-batch of warm-up; two without a pipeline.
  EXPECT_EQ(in_flight_stages(Schedule::OneFOneB, p, 1, m, 0, true), 9);
  EXPECT_EQ(in_flight_stages(Schedule::OneFOneB, 1, 1, m, 0, true), 2);
  // Fewer micro-batches than the warm-up: all of them.
  EXPECT_EQ(in_flight_stages(Schedule::DualPipe, p, 1, 4, 0), 4);
}

TEST(Pipeline, SendsAndChunksPerSchedule) {
  EXPECT_EQ(schedule_chunks(Schedule::ZbV, 1), 2);
  EXPECT_EQ(schedule_chunks(Schedule::ZbH1, 1), 1);
  EXPECT_EQ(exposed_sends(Schedule::OneFOneB, 4, 1, 16), 2 * 16 + 6);
  EXPECT_EQ(exposed_sends(Schedule::ZbV, 4, 1, 16), 4 * 16 + 6);
  EXPECT_EQ(exposed_sends(Schedule::DualPipe, 4, 1, 16), 6);  // steady state hidden
  Model m;
  m.layers = 16;
  Layout l{.pp = 4};
  l.schedule = Schedule::ZbV;  // 8 chunks of 2 layers, two per GPU
  EXPECT_EQ(layer_chunks(l), 2);
  EXPECT_EQ(stage_layers(m, l, 0), 4);
  m.layers = 18;  // 8 chunks of ceil(18 / 8) = 3: the fullest GPU holds 6
  EXPECT_EQ(max_stage_layers(m, l), 6);
}
