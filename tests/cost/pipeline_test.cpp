#include <gtest/gtest.h>

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
