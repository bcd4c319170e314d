#include "parplan/sim/platform.hpp"

#include <gtest/gtest.h>
#include <xbt/log.h>

#include <algorithm>
#include <simgrid/s4u/Engine.hpp>

#include "parplan/model/error.hpp"
#include "parplan/model/io.hpp"
#include "parplan/sim/worker.hpp"

namespace sg4 = simgrid::s4u;
using namespace parplan;

namespace {

Cluster two_dgx() {
  Cluster c = load_cluster("dgx-a100-80g");
  c.nodes = 2;
  return c;
}

nlohmann::json route(const sim::Platform& p, int a, int b) {
  std::vector<sg4::Link*> links;
  double lat = 0;
  p.hosts[size_t(a)]->route_to(p.hosts[size_t(b)], links, &lat);
  nlohmann::json names = nlohmann::json::array();
  double bw = 1e300;
  for (auto* l : links) names.push_back(l->get_name()), bw = std::min(bw, l->get_bandwidth());
  return {{"links", names}, {"latency", lat}, {"bandwidth", bw}};
}

nlohmann::json describe_platform(const Cluster& c, int64_t gpus) {
  xbt_log_control_set("root.thresh:critical");
  sg4::Engine e("platform-test");
  sim::configure_network(sim::NetworkModel::Cm02);
  sim::Platform p = sim::build_platform(c, gpus);
  nlohmann::json classes = {{"intra", 0}, {"nic", 0}, {"fabric", 0}};
  for (auto& l : p.links)
    classes[sim::to_string(l.cls)] = classes[sim::to_string(l.cls)].get<int>() + 1;
  return {{"hosts", e.get_host_count()},
          {"host0", p.hosts[0]->get_name()},
          {"nodes", p.nodes},
          {"classes", classes},
          {"topology", p.topology},
          {"intra", route(p, 0, 1)},
          {"inter", route(p, 0, 9)},
          {"inter_far", route(p, 3, int(p.gpus - 1))}};
}

}  // namespace

TEST(Platform, TwoDgxNodesHaveSixteenGpuHostsPerGpuLinksNicsAndRoutes) {
  const Cluster c = two_dgx();
  auto j = sim::run_in_child([&] { return describe_platform(c, 16); }, 60);
  EXPECT_EQ(j["hosts"], 16);
  EXPECT_EQ(j["host0"], "gpu0");
  EXPECT_EQ(j["nodes"], 2);
  // 8 NVSwitch ports and 8 NICs per node, each split duplex (up + down).
  EXPECT_EQ(j["classes"]["intra"], 32);
  EXPECT_EQ(j["classes"]["nic"], 32);
  EXPECT_GE(j["classes"]["fabric"], 4);
  // Inside a node: the sender's NVSwitch port up, the receiver's down.
  EXPECT_EQ(j["intra"]["links"], nlohmann::json({"n0-nvl0_UP", "n0-nvl1_DOWN"}));
  EXPECT_NEAR(j["intra"]["latency"].get<double>(), c.intra.latency_s, 1e-12);
  EXPECT_NEAR(j["intra"]["bandwidth"].get<double>(), 300e9 * c.efficiency.intra_node_link, 1);
  // Across nodes: GPU 0 leaves through NIC 0, GPU 9 (local 1) enters through node 1's NIC 1.
  const auto& inter = j["inter"]["links"];
  ASSERT_GE(inter.size(), 3u);
  EXPECT_EQ(inter.front(), "n0-nic0_UP");
  EXPECT_EQ(inter.back(), "n1-nic1_DOWN");
  EXPECT_NEAR(j["inter"]["latency"].get<double>(), c.inter.latency_s + c.intra.latency_s, 1e-12);
  EXPECT_NEAR(j["inter"]["bandwidth"].get<double>(), 25e9 * c.efficiency.inter_node_link, 1);
  EXPECT_EQ(j["inter_far"]["links"].front(), "n0-nic3_UP");
}

TEST(Platform, BuildsFatTreeDragonflyTorusAndStarTopologies) {
  for (auto topo : {Topology::FatTree, Topology::Dragonfly, Topology::Torus, Topology::Star}) {
    Cluster c = load_cluster("dgx-a100-80g");
    c.nodes = 64;
    c.inter.topology = topo;
    auto j = sim::run_in_child([&] { return describe_platform(c, 64 * 8); }, 60);
    EXPECT_EQ(j["hosts"], 512) << to_string(topo);
    EXPECT_GT(j["classes"]["fabric"].get<int>(), 0) << to_string(topo);
    EXPECT_NEAR(j["inter"]["latency"].get<double>(), c.inter.latency_s + c.intra.latency_s, 1e-12)
        << to_string(topo);
  }
}

TEST(Platform, SmallToriWithDimensionsOfOneAndTwoBuild) {
  for (int64_t nodes : {2, 3, 4, 6}) {
    Cluster c = load_cluster("dgx-a100-80g");
    c.nodes = nodes;
    c.inter.topology = Topology::Torus;
    auto j = sim::run_in_child([&] { return describe_platform(c, nodes * 8); }, 60);
    EXPECT_EQ(j["hosts"], nodes * 8) << nodes;
  }
}

TEST(Platform, PcieNodesSendNetworkTrafficThroughTheGpuLink) {
  Cluster c = two_dgx();
  c.intra.kind = IntraKind::Pcie;
  auto j = sim::run_in_child([&] { return describe_platform(c, 16); }, 60);
  EXPECT_EQ(j["inter"]["links"].front(), "n0-nvl0_UP");
}

TEST(Platform, RejectsZeroBandwidthTooManyGpusAndTopologiesTheFileDoesNotDescribe) {
  Cluster c = two_dgx();
  c.intra.bandwidth_bytes_per_s = 0;
  EXPECT_THROW(sim::check_cluster(c, 16), Error);
  c = two_dgx();
  c.inter.nic_bytes_per_s = 0;
  EXPECT_THROW(sim::check_cluster(c, 16), Error);
  EXPECT_NO_THROW(sim::check_cluster(c, 8));  // one node needs no network
  c = two_dgx();
  EXPECT_THROW(sim::check_cluster(c, 24), Error);
  c.inter.topology = Topology::Torus;
  c.inter.torus_dims[0] = 1, c.inter.torus_dims[1] = 1, c.inter.torus_dims[2] = 1;
  try {
    sim::check_cluster(c, 16);
    FAIL() << "a 1x1x1 torus cannot hold 2 nodes";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("torus_dims"), std::string::npos) << e.what();
  }
  c = two_dgx();
  c.nodes = 6;
  c.inter.topology = Topology::Dragonfly;
  c.inter.dragonfly_groups = 4;
  EXPECT_THROW(sim::check_cluster(c, 48), Error);
}
