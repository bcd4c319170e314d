// The simulator's platform on GB200 NVL72 (sim/src/platform.cpp): one zone per 72-GPU NVLink
// domain holding its 18 trays' GPUs and NICs; GPUs of a rack talk over NVLink, racks over NICs.
#include <gtest/gtest.h>
#include <xbt/log.h>

#include <algorithm>
#include <simgrid/s4u/Engine.hpp>

#include "parplan/model/io.hpp"
#include "parplan/sim/platform.hpp"
#include "parplan/sim/worker.hpp"

namespace sg4 = simgrid::s4u;
using namespace parplan;

namespace {

nlohmann::json route(const sim::Platform& p, int a, int b) {
  std::vector<sg4::Link*> links;
  double lat = 0;
  p.hosts[size_t(a)]->route_to(p.hosts[size_t(b)], links, &lat);
  nlohmann::json names = nlohmann::json::array();
  for (auto* l : links) names.push_back(l->get_name());
  return names;
}

// A platform of `gpus` GPUs on `c`: its zones, GPUs per zone, links and three routes from GPU 0.
nlohmann::json platform_of(const Cluster& c, int gpus, int last_in_rack) {
  return sim::run_in_child(
      [&] {
        xbt_log_control_set("root.thresh:critical");
        sg4::Engine e("nvl72-platform-test");
        sim::configure_network(sim::NetworkModel::Cm02);
        const sim::Platform p = sim::build_platform(c, gpus);
        int nic = 0, intra = 0;
        for (auto& l : p.links) {
          nic += l.cls == sim::LinkClass::Nic;
          intra += l.cls == sim::LinkClass::Intra;
        }
        return nlohmann::json{{"hosts", e.get_host_count()}, {"zones", p.nodes},
                              {"per_zone", p.gpus_per_node}, {"nic", nic}, {"intra", intra},
                              {"tray_to_tray", route(p, 0, 4)},
                              {"across_rack", route(p, 0, last_in_rack)},
                              {"rack_to_rack", route(p, 0, last_in_rack + 1)}};
      },
      60);
}

void expect_racks(const nlohmann::json& j, int gpus, int zones, int per_zone) {
  EXPECT_EQ(j["hosts"], gpus);
  EXPECT_EQ(j["zones"], zones);  // racks, not trays
  EXPECT_EQ(j["per_zone"], per_zone);
  EXPECT_EQ(j["intra"], gpus * 2);  // one split-duplex NVLink port per GPU
  EXPECT_EQ(j["nic"], gpus * 2);    // 4 NICs per tray = one per GPU, split duplex
  // GPU 0 to GPU 4 (the next tray) and to the rack's last placed GPU: NVLink ports only.
  for (const char* k : {"tray_to_tray", "across_rack"}) {
    ASSERT_EQ(j[k].size(), 2u) << j[k];
    for (const auto& n : j[k]) EXPECT_NE(n.get<std::string>().find("-nvl"), std::string::npos) << j[k];
  }
  // GPU 0 to the next rack's first GPU leaves through a NIC.
  bool via_nic = false;
  for (const auto& n : j["rack_to_rack"]) via_nic |= n.get<std::string>().find("-nic") != std::string::npos;
  EXPECT_TRUE(via_nic) << j["rack_to_rack"];
}

TEST(Nvl72Platform, AJobFillsA16TraySegmentOfEachRackWithItsNics) {
  // The preset places jobs as Slurm's topology/block segments of 16 trays (64 of 72 GPUs).
  const Cluster c = load_cluster("gb200-nvl72");
  ASSERT_EQ(c.domain_gpus(), 64);
  expect_racks(platform_of(c, 128, 63), 128, 2, 64);
}

TEST(Nvl72Platform, WholeRacksWithoutSegmentsAreOneNvlinkZoneEach) {
  Cluster c = load_cluster("gb200-nvl72");
  c.nvlink_domain_segment_gpus = 0;
  expect_racks(platform_of(c, 144, 71), 144, 2, 72);
}

TEST(Nvl72Platform, MoreGpusThanTheSegmentsHoldIsAClearError) {
  const Cluster c = load_cluster("gb200-nvl72");  // 16 racks: 1,152 GPUs, 1,024 in segments
  try {
    sim::check_cluster(c, 1088);
    FAIL() << "1,088 GPUs fit no 16 segments of 64";
  } catch (const Error& e) {
    const std::string m = e.what();
    EXPECT_NE(m.find("1024 GPUs; cluster.nvlink_domain_segment_gpus"), std::string::npos) << m;
  }
  EXPECT_NO_THROW(sim::check_cluster(c, 1024));
}

}  // namespace
