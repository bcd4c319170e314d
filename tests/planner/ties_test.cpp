#include <gtest/gtest.h>

#include "parplan/planner/ties.hpp"

using namespace parplan;
using namespace parplan::planner;

namespace {
Candidate cand(int dp, int tp, int pp, double step) {
  Candidate c;
  c.layout.dp = dp, c.layout.tp = tp, c.layout.pp = pp;
  c.cost.step_time_s = step;
  return c;
}
cost::Interval iv(double lo, double hi) {
  cost::Interval i;
  i.step_lo = lo, i.step_hi = hi;
  return i;
}
}  // namespace

TEST(Ties, OverlappingPlansShowTheSimplestFirst) {
  // Ranked by step time: 3D (10.0 s), 2D (10.1 s), DP only (10.2 s), TP 8 (20 s). The first three
  // intervals overlap [9, 11]; the fourth starts at 18: not tied.
  const std::vector<Candidate> c = {cand(8, 2, 2, 10.0), cand(16, 2, 1, 10.1), cand(32, 1, 1, 10.2),
                                    cand(4, 8, 1, 20.0)};
  const std::vector<cost::Interval> i = {iv(9, 11), iv(9.2, 11.1), iv(9.5, 11.5), iv(18, 22)};
  const TieOrder t = order_ties(c, i);
  EXPECT_EQ(t.tied, 3u);
  EXPECT_EQ(t.order, (std::vector<size_t>{2, 1, 0, 3}));
}

TEST(Ties, SeparatedPlansKeepTheSearchOrder) {
  const std::vector<Candidate> c = {cand(8, 2, 2, 10.0), cand(32, 1, 1, 12.0)};
  const TieOrder t = order_ties(c, {iv(9.5, 10.5), iv(11, 13)});
  EXPECT_EQ(t.tied, 1u);
  EXPECT_EQ(t.order, (std::vector<size_t>{0, 1}));
}

TEST(Ties, ParallelDimensionsCountsDegreesAboveOne) {
  Layout l;
  EXPECT_EQ(parallel_dimensions(l), 0);
  l.dp = 4, l.tp = 2, l.cp = 2;
  EXPECT_EQ(parallel_dimensions(l), 3);
}
