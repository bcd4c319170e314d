#include <gtest/gtest.h>

#include "parplan/cost/collectives.hpp"
#include "test_inputs.hpp"

using namespace parplan;
using namespace parplan::cost;

TEST(Collectives, RingAllReduceInsideANodeIsTheAlphaBetaFormula) {
  Cluster c = test::a100();
  const double M = 256e6, n = 8;
  const double B = c.intra.bandwidth_bytes_per_s * c.efficiency.intra_node_link;
  const double a = c.intra.latency_s;
  Group g{8, 8, 8};
  EXPECT_DOUBLE_EQ(collective_time(Collective::AllReduce, M, g, c, Algorithm::Ring),
                   2 * (n - 1) * a + 2 * (n - 1) / n * M / B);
  EXPECT_DOUBLE_EQ(collective_time(Collective::AllGather, M, g, c, Algorithm::Ring),
                   (n - 1) * a + (n - 1) / n * M / B);
}

TEST(Collectives, AllReduceCostsAsMuchAsReduceScatterPlusAllGather) {
  Cluster c = test::a100();
  Group g{64, 8, 8};
  for (double M : {1e6, 1e8, 1e9}) {
    const double ar = collective_time(Collective::AllReduce, M, g, c, Algorithm::Ring);
    const double rs = collective_time(Collective::ReduceScatter, M, g, c, Algorithm::Ring);
    const double ag = collective_time(Collective::AllGather, M, g, c, Algorithm::Ring);
    EXPECT_NEAR(ar, rs + ag, 1e-12 * ar);
  }
}

TEST(Collectives, GroupsThatSpanNodesUseTheSlowerInterNodeLinks) {
  Cluster c = test::a100();
  Group inside{8, 8, 8}, across{8, 1, 8};
  EXPECT_GT(collective_time(Collective::AllReduce, 1e9, across, c),
            collective_time(Collective::AllReduce, 1e9, inside, c) * 5);
}

TEST(Collectives, HierarchicalBeatsAFlatRingWhenNodesHoldSeveralMembers) {
  Cluster c = test::a100();
  Group g{64, 8, 8};
  EXPECT_LT(collective_time(Collective::AllReduce, 1e9, g, c, Algorithm::Hierarchical),
            collective_time(Collective::AllReduce, 1e9, g, c, Algorithm::Ring));
  EXPECT_EQ(choose_algorithm(Collective::AllReduce, 1e9, g, c), Algorithm::Hierarchical);
}

TEST(Collectives, TreeWinsForSmallMessagesOnLargeGroups) {
  Cluster c = test::a100();
  Group g{1024, 1, 8};
  EXPECT_EQ(choose_algorithm(Collective::AllReduce, 1e3, g, c), Algorithm::Tree);
  // Large messages are bandwidth-bound: both move about 2M bytes per rank.
  const double ring = collective_time(Collective::AllReduce, 1e10, g, c, Algorithm::Ring);
  const double tree = collective_time(Collective::AllReduce, 1e10, g, c, Algorithm::Tree);
  EXPECT_NEAR(tree / ring, 1.0, 0.02);
}

TEST(Placement, FollowsMegatronRankOrder) {
  Cluster c = test::a100();
  Layout l{.dp = 4, .tp = 2, .pp = 2, .cp = 2};
  Placement p = place(l, c);
  EXPECT_EQ(p.tp.per_node, 2);
  EXPECT_EQ(p.cp.per_node, 2);  // stride 2 inside a node of 8
  EXPECT_EQ(p.dp.per_node, 2);  // stride 4: two DP ranks per node
  EXPECT_EQ(p.pp.per_node, 1);  // stride 16: across nodes
  EXPECT_TRUE(p.dp.spans_nodes());
  EXPECT_FALSE(p.tp.spans_nodes());
}
