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

// ZB-H1 (Qi et al. 2024 sec. 3.1): every F, B and W once, B after its F, W after its B; stage s
// starts with p - 1 - s forwards alone (1F1B's warm-up, so 1F1B's memory), and the last stage
// defers each W by p - 1 slots into the cool-down.
TEST(Schedule, ZeroBubbleH1SplitsTheBackwardAndDefersTheWeightGradients) {
  const int p = 4, m = 8;
  for (int s = 0; s < p; ++s) {
    const auto ops = stage_schedule(Schedule::ZbH1, p, s, 1, m);
    ASSERT_EQ(ops.size(), size_t(3 * m));
    std::set<std::pair<int, int>> seen;  // (kind 0 F / 1 B / 2 W, micro-batch)
    int leading = 0;
    bool before_b = true;
    for (const auto& o : ops) {
      const int kind = o.forward ? 0 : o.weight ? 2 : 1;
      EXPECT_TRUE(seen.insert({kind, o.microbatch}).second);
      if (kind > 0) {
        EXPECT_TRUE(seen.count({kind - 1, o.microbatch})) << s;
        EXPECT_TRUE(o.split);
      }
      if (kind != 0) before_b = false;
      if (before_b) ++leading;
    }
    EXPECT_EQ(leading, p - s) << s;  // p - 1 - s warm-up forwards and the first steady one
    EXPECT_TRUE(ops.back().weight);
  }
  // The last stage's W of micro-batch 0 comes after the B of micro-batch p - 1.
  const auto last = stage_schedule(Schedule::ZbH1, p, p - 1, 1, m);
  size_t w0 = 0, b3 = 0;
  for (size_t i = 0; i < last.size(); ++i) {
    if (last[i].weight && last[i].microbatch == 0) w0 = i;
    if (!last[i].forward && !last[i].weight && last[i].microbatch == p - 1) b3 = i;
  }
  EXPECT_GT(w0, b3);
  // No timeline yet for the V and bidirectional schedules: refused with the field named.
  EXPECT_THROW(stage_schedule(Schedule::DualPipeV, p, 0, 1, m), Error);
}
