#include <gtest/gtest.h>

#include "parplan/cost/collectives.hpp"
#include "test_inputs.hpp"

using namespace parplan;
using namespace parplan::cost;

TEST(Collectives, RingAllReduceInsideANodeIsTheAlphaBetaFormulaPlusNcclsBaseLatency) {
  // Large messages run the Simple protocol: NCCL's base latency 8.4 us (tuning.cc baseLat) +
  // (n-1) or 2(n-1) steps of the link latency + the bandwidth term (Thakur et al. 2005).
  Cluster c = test::a100();
  const double M = 256e6, n = 8;
  const double B = c.intra.bandwidth_bytes_per_s * c.efficiency.intra_node_link;
  const double a = c.intra.latency_s;
  Group g{8, 8, 8};
  const CollectiveEstimate ar = collective_estimate(Collective::AllReduce, M, g, c, Algorithm::Ring);
  EXPECT_EQ(ar.proto, Protocol::Simple);
  EXPECT_NEAR(ar.time_s, 8.4e-6 + 2 * (n - 1) * a + 2 * (n - 1) / n * M / B, 1e-12);
  EXPECT_NEAR(collective_time(Collective::AllGather, M, g, c, Algorithm::Ring),
              8.4e-6 + (n - 1) * a + (n - 1) / n * M / B, 1e-12);
}

TEST(Collectives, ProtocolFollowsMessageSizeAsNcclPicksIt) {
  // 8 GPUs on NVSwitch at NCCL's own Simple step latency (3.4 us), ring all-gather: LL
  // (latency 6.6 + 7 * 0.6 us, a third of the bandwidth) for tiny messages, LL128
  // (14 + 7 * 1.9 us, 0.92) in the middle, Simple (8.4 + 7 * 3.4 us, all of it) for large ones.
  Cluster c = test::a100();
  c.intra.latency_s = 3.4e-6;
  Group g{8, 8, 8};
  const double B = c.intra.bandwidth_bytes_per_s * c.efficiency.intra_node_link;
  const auto at = [&](double M) { return collective_estimate(Collective::AllGather, M, g, c); };
  EXPECT_EQ(at(8e3).proto, Protocol::LL);
  EXPECT_NEAR(at(8e3).time_s, 6.6e-6 + 7 * 0.6e-6 + 7.0 / 8 * 8e3 / (B / 3), 1e-12);
  EXPECT_EQ(at(4e6).proto, Protocol::LL128);
  EXPECT_EQ(at(1e9).proto, Protocol::Simple);
}

TEST(Collectives, RingLatencyGrowsWithTheGroupAndCountsInterNodeStepsApart) {
  // 1,024 GPUs on 128 nodes, ring all-gather of 1 GB: 127 steps cross nodes at 5 + 2 us, the
  // other 896 stay on NVSwitch at 2 us (NCCL nInterSteps), plus the 8.4 us base.
  Cluster c = test::a100();
  Group g{1024, 8, 1};
  const CollectiveEstimate e =
      collective_estimate(Collective::AllGather, 1e9, g, c, Algorithm::Ring);
  EXPECT_NEAR(e.latency_s, 8.4e-6 + 127 * 7e-6 + 896 * 2e-6, 1e-12);
  Group small{64, 8, 1};
  EXPECT_GT(e.latency_s,
            collective_estimate(Collective::AllGather, 1e9, small, c, Algorithm::Ring).latency_s * 10);
}

TEST(Collectives, NvlsRunsAllReduceThroughTheSwitchWhereTheClusterHasIt) {
  Cluster c = load_cluster("dgx-h100-80g");
  Group g{8, 8, 8};
  c.intra.nvls = true;
  EXPECT_EQ(choose_algorithm(Collective::AllReduce, 1e9, g, c), Algorithm::Nvls);
  // The whole buffer once each way at 0.6 of 450 GB/s, 23 us + one step of latency.
  EXPECT_NEAR(collective_time(Collective::AllReduce, 1e9, g, c),
              23e-6 + c.intra.latency_s + 1e9 / (450e9 * 0.6), 1e-12);
  c.intra.nvls = false;
  EXPECT_EQ(choose_algorithm(Collective::AllReduce, 1e9, g, c), Algorithm::Ring);
}

TEST(Collectives, AllReduceCostsAsMuchAsReduceScatterPlusAllGather) {
  Cluster c = test::a100();
  Group g{64, 8, 8};
  for (double M : {1e8, 1e9}) {  // Simple protocol: one base latency (8.4 us) fewer
    const double ar = collective_time(Collective::AllReduce, M, g, c, Algorithm::Ring);
    const double rs = collective_time(Collective::ReduceScatter, M, g, c, Algorithm::Ring);
    const double ag = collective_time(Collective::AllGather, M, g, c, Algorithm::Ring);
    EXPECT_NEAR(ar + 8.4e-6, rs + ag, 1e-12 * ar);
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
  // Large messages are bandwidth-bound: both move about 2M bytes per rank, the tree at 0.9 of
  // the ring's bus bandwidth (NCCL tuning.cc).
  const double ring = collective_time(Collective::AllReduce, 1e10, g, c, Algorithm::Ring);
  const double tree = collective_time(Collective::AllReduce, 1e10, g, c, Algorithm::Tree);
  EXPECT_NEAR(tree / ring, 1 / 0.9, 0.02);
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
