#include "parplan/sim/collectives.hpp"

#include <gtest/gtest.h>

#include "parplan/model/io.hpp"
#include "parplan/sim/worker.hpp"

using namespace parplan;
using cost::Algorithm;
using cost::Collective;

namespace {

Cluster dgx(int64_t nodes) {
  Cluster c = load_cluster("dgx-a100-80g");
  c.nodes = nodes;
  return c;
}

std::vector<double> run(const Cluster& c, const std::vector<sim::CollectiveJob>& jobs) {
  auto j =
      sim::run_in_child([&] { return nlohmann::json(sim::simulate_collectives(c, jobs)); }, 60);
  return j.get<std::vector<double>>();
}

std::vector<int64_t> range(int64_t first, int64_t n, int64_t stride = 1) {
  std::vector<int64_t> v;
  for (int64_t i = 0; i < n; ++i) v.push_back(first + i * stride);
  return v;
}

// Thakur et al. 2005, ring: all-reduce 2(P-1)/P M/B + 2(P-1) alpha; all-gather and
// reduce-scatter (P-1)/P M/B + (P-1) alpha; point-to-point M/B + alpha. NCCL's Simple protocol
// adds its base latency, 8.4 us (src/graph/tuning.cc baseLat), to each collective.
double ring_formula(Collective op, double M, double P, double B, double alpha) {
  if (op == Collective::AllReduce) return 8.4e-6 + 2 * (P - 1) / P * M / B + 2 * (P - 1) * alpha;
  if (op == Collective::SendRecv) return M / B + alpha;
  return 8.4e-6 + (P - 1) / P * M / B + (P - 1) * alpha;
}

}  // namespace

TEST(SimCollectives, UncontendedRingsInsideANodeMatchAlphaBetaWithinTwoPercent) {
  const Cluster c = dgx(1);
  const double B = c.intra.bandwidth_bytes_per_s * c.efficiency.intra_node_link,
               a = c.intra.latency_s;
  for (double M : {1e6, 256e6}) {
    std::vector<sim::CollectiveJob> jobs = {
        {Collective::AllReduce, M, range(0, 8), Algorithm::Ring, 1, cost::Protocol::Simple}};
    for (auto op : {Collective::AllReduce, Collective::AllGather, Collective::ReduceScatter}) {
      jobs[0].op = op;
      const double t = run(c, jobs)[0];
      EXPECT_NEAR(t / ring_formula(op, M, 8, B, a), 1.0, 0.02) << cost::to_string(op) << " M=" << M;
    }
  }
}

TEST(SimCollectives, UncontendedRingsAcrossNodesAndPointToPointMatchAlphaBetaWithinTwoPercent) {
  const Cluster c = dgx(8);
  const double B = c.inter.nic_bytes_per_s * c.efficiency.inter_node_link;
  const double a = c.inter.latency_s + c.intra.latency_s;
  const double M = 512e6;
  for (auto op : {Collective::AllReduce, Collective::AllGather, Collective::ReduceScatter}) {
    const double t = run(c, {{op, M, range(0, 8, 8), Algorithm::Ring, 1, cost::Protocol::Simple}})[0];
    EXPECT_NEAR(t / ring_formula(op, M, 8, B, a), 1.0, 0.02) << cost::to_string(op);
  }
  const double p2p = run(c, {{Collective::SendRecv, M, {0, 8}, Algorithm::Ring, 1, cost::Protocol::Simple}})[0];
  EXPECT_NEAR(p2p / ring_formula(Collective::SendRecv, M, 2, B, a), 1.0, 0.02);
  const double p2p_small = run(c, {{Collective::SendRecv, 4096, {0, 8}, Algorithm::Ring, 1, cost::Protocol::Simple}})[0];
  EXPECT_NEAR(p2p_small / ring_formula(Collective::SendRecv, 4096, 2, B, a), 1.0, 0.02);
}

TEST(SimCollectives, MatchTheCostModelForRingAndHierarchicalAllReduce) {
  const Cluster c = dgx(2);
  const double M = 1e9;
  // 16 GPUs on 2 nodes, every GPU of a node in the group: the cost model's per-GPU NIC share.
  cost::Group g{16, 8, 8};
  const double hier =
      run(c, {{Collective::AllReduce, M, range(0, 16), Algorithm::Hierarchical, 1, {}}})[0];
  EXPECT_NEAR(hier / cost::collective_time(Collective::AllReduce, M, g, c, Algorithm::Hierarchical),
              1.0, 0.02);
  cost::Group intra{8, 8, 8};
  const double ring = run(c, {{Collective::AllReduce, M, range(0, 8), Algorithm::Ring, 1, cost::Protocol::Simple}})[0];
  EXPECT_NEAR(ring / cost::collective_time(Collective::AllReduce, M, intra, c, Algorithm::Ring),
              1.0, 0.02);
}

TEST(SimCollectives, TwoRingsSharingOneNicTakeTwiceAsLongAsOne) {
  // One NIC per node: rings {0, 8} and {1, 9} both cross it; alone, a ring has it to itself.
  Cluster c = dgx(2);
  c.inter.nics_per_node = 1;
  const double M = 1e9;
  const double alone = run(c, {{Collective::AllReduce, M, {0, 8}, Algorithm::Ring, 1, cost::Protocol::Simple}})[0];
  const auto both = run(c, {{Collective::AllReduce, M, {0, 8}, Algorithm::Ring, 1, cost::Protocol::Simple},
                            {Collective::AllReduce, M, {1, 9}, Algorithm::Ring, 1, cost::Protocol::Simple}});
  EXPECT_NEAR(both[0] / alone, 2.0, 0.04);
  EXPECT_NEAR(both[1] / alone, 2.0, 0.04);
  // With a NIC per GPU (rail-optimised DGX) the same two rings do not contend.
  const auto rails = run(dgx(2), {{Collective::AllReduce, M, {0, 8}, Algorithm::Ring, 1, cost::Protocol::Simple},
                                  {Collective::AllReduce, M, {1, 9}, Algorithm::Ring, 1, cost::Protocol::Simple}});
  const double rail_alone =
      run(dgx(2), {{Collective::AllReduce, M, {0, 8}, Algorithm::Ring, 1, cost::Protocol::Simple}})[0];
  EXPECT_NEAR(rails[0] / rail_alone, 1.0, 0.02);
}

TEST(SimCollectives, TcpModelIsAvailableAndSlowerThanTheIdealModel) {
  const Cluster c = dgx(2);
  const std::vector<sim::CollectiveJob> jobs = {
      {Collective::AllReduce, 1e8, {0, 8}, Algorithm::Ring, 1, cost::Protocol::Simple}};
  auto ideal =
      sim::run_in_child([&] { return nlohmann::json(sim::simulate_collectives(c, jobs)); }, 60);
  auto tcp = sim::run_in_child(
      [&] { return nlohmann::json(sim::simulate_collectives(c, jobs, sim::NetworkModel::Tcp)); },
      60);
  EXPECT_GT(tcp[0].get<double>(), ideal[0].get<double>());
}

TEST(SimCollectives, PipelinedDoubleBinaryTreeApproachesTwoMOverBForLargeGroups) {
  // 16 nodes, one GPU each: NCCL's tree all-reduce, 2 log2(P) step latencies + 2 M/B in the
  // cost model (Simple protocol: 0.9 of the NIC); the simulated tree cuts each half of the
  // buffer into pieces that flow up and down at once, and where a node is inner in one tree
  // and a leaf in the other the pieces of both trees share its NIC, which the cost model's
  // 2 M/B leaves out (docs/simulation.md). A ring pays 2(P-1) step latencies.
  const Cluster c = dgx(16);
  const double B = c.inter.nic_bytes_per_s * c.efficiency.inter_node_link;
  const double M = 64e6;
  const auto members = range(0, 16, 8);
  const double tree = run(c, {{Collective::AllReduce, M, members, Algorithm::Tree, 1, {}}})[0];
  cost::Group g{16, 1, 8};
  const double ideal = cost::collective_time(Collective::AllReduce, M, g, c, Algorithm::Tree);
  EXPECT_GT(tree, 2 * M / B);
  EXPECT_LT(tree / ideal, 1.4);
  const double ring = run(c, {{Collective::AllReduce, M, members, Algorithm::Ring, 1, {}}})[0];
  EXPECT_NEAR(ring / cost::collective_time(Collective::AllReduce, M, g, c, Algorithm::Ring), 1.0,
              0.02);
}
