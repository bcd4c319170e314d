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
