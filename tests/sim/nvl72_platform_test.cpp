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

TEST(Nvl72Platform, ARackIsOneNvlinkZoneWithEveryTraysNics) {
  const Cluster c = load_cluster("gb200-nvl72");
  auto j = sim::run_in_child(
      [&] {
        xbt_log_control_set("root.thresh:critical");
        sg4::Engine e("nvl72-platform-test");
        sim::configure_network(sim::NetworkModel::Cm02);
        const sim::Platform p = sim::build_platform(c, 144);
        int nic = 0, intra = 0;
        for (auto& l : p.links) {
          nic += l.cls == sim::LinkClass::Nic;
          intra += l.cls == sim::LinkClass::Intra;
        }
        return nlohmann::json{{"hosts", e.get_host_count()}, {"zones", p.nodes},
                              {"per_zone", p.gpus_per_node}, {"nic", nic}, {"intra", intra},
                              {"tray_to_tray", route(p, 0, 4)}, {"across_rack", route(p, 0, 71)},
                              {"rack_to_rack", route(p, 0, 72)}};
      },
      60);
  EXPECT_EQ(j["hosts"], 144);
  EXPECT_EQ(j["zones"], 2);        // two racks, not 36 trays
  EXPECT_EQ(j["per_zone"], 72);
  EXPECT_EQ(j["intra"], 144 * 2);  // one split-duplex NVLink port per GPU
  EXPECT_EQ(j["nic"], 144 * 2);    // 4 NICs per tray = one per GPU, split duplex
  // GPU 0 to GPU 4 (the next tray) and to GPU 71 (the rack's last): NVLink ports only.
  for (const char* k : {"tray_to_tray", "across_rack"}) {
    ASSERT_EQ(j[k].size(), 2u) << j[k];
    for (const auto& n : j[k]) EXPECT_NE(n.get<std::string>().find("-nvl"), std::string::npos) << j[k];
  }
  // GPU 0 to GPU 72 (the next rack) leaves through a NIC.
  bool via_nic = false;
  for (const auto& n : j["rack_to_rack"]) via_nic |= n.get<std::string>().find("-nic") != std::string::npos;
  EXPECT_TRUE(via_nic) << j["rack_to_rack"];
}

}  // namespace
