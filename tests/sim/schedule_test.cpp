#include "schedule.hpp"

#include <gtest/gtest.h>

#include <set>

#include "parplan/model/error.hpp"

using namespace parplan;
using sim::detail::stage_schedule;

namespace {
// Every (forward/backward, micro-batch, chunk) exactly once, and each backward after its forward.
void expect_complete(const std::vector<sim::detail::PipeOp>& ops, int m, int v) {
  ASSERT_EQ(ops.size(), size_t(2 * m * v));
  std::set<std::tuple<bool, int, int>> seen;
  for (const auto& o : ops) {
    EXPECT_TRUE(seen.insert({o.forward, o.microbatch, o.chunk}).second);
    if (!o.forward) {
      EXPECT_TRUE(seen.count({true, o.microbatch, o.chunk}));
    }
  }
}
}  // namespace

TEST(Schedule, OneFOneBWarmsUpWithPMinusStageMinusOneForwards) {
  const auto ops = stage_schedule(Schedule::OneFOneB, 4, 1, 1, 8);
  expect_complete(ops, 8, 1);
  EXPECT_TRUE(ops[0].forward && ops[1].forward && ops[2].forward);
  EXPECT_FALSE(ops[3].forward);  // after 2 warm-up forwards and the first steady forward
  EXPECT_EQ(ops[3].microbatch, 0);
}

TEST(Schedule, GPipeRunsAllForwardsBeforeAnyBackward) {
  const auto ops = stage_schedule(Schedule::GPipe, 4, 0, 1, 6);
  expect_complete(ops, 6, 1);
  for (int i = 0; i < 6; ++i) EXPECT_TRUE(ops[size_t(i)].forward);
}

TEST(Schedule, InterleavedVisitsEveryChunkAndNeedsMicroBatchesAMultipleOfP) {
  for (int s = 0; s < 4; ++s)
    expect_complete(stage_schedule(Schedule::Interleaved, 4, s, 3, 8), 8, 3);
  EXPECT_THROW(stage_schedule(Schedule::Interleaved, 4, 0, 2, 6), Error);
}
