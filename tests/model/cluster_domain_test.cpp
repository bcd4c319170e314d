// NVLink domains beyond a node and the Blackwell presets (model/src/cluster.cpp,
// examples/clusters/{dgx-b200,dgx-b300,gb200-nvl72,gb300-nvl72}.json, docs/presets.md).
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "parplan/model/cluster.hpp"
#include "parplan/model/io.hpp"

namespace parplan {
namespace {

Cluster parse(const nlohmann::json& j, Diagnostics& d) { return cluster_from_json(j, d); }

nlohmann::json tray_cluster() {
  return nlohmann::json::parse(R"({"nodes": 36, "gpus_per_node": 4, "nvlink_domain_gpus": 72,
      "gpu": {"memory_GiB": 186, "memory_GBps": 8000, "peak_tflops": {"bf16": 2500}},
      "intra_node": {"bandwidth_GBps": 900}, "inter_node": {"nic_GBps": 50, "nics_per_node": 4}})");
}

TEST(NvlinkDomain, DefaultsToTheNodeForFilesWithoutIt) {
  const Cluster h = load_cluster("dgx-h100-80g");
  EXPECT_EQ(h.nvlink_domain_gpus, 0);
  EXPECT_EQ(h.domain_gpus(), 8);
  EXPECT_FALSE(to_json(h).contains("nvlink_domain_gpus"));
}

TEST(NvlinkDomain, Nvl72PresetsAre72GpuDomainsOfFourGpuTrays) {
  for (const char* name : {"gb200-nvl72", "gb300-nvl72"}) {
    const Cluster c = load_cluster(name);
    EXPECT_EQ(c.gpus_per_node, 4) << name;
    EXPECT_EQ(c.nvlink_domain(), 72) << name;
    EXPECT_EQ(c.domain_gpus(), 64) << name;  // a job's 16-tray segment of each rack
    EXPECT_EQ(c.total_gpus(), 1152) << name;  // 16 racks
    EXPECT_EQ(c.placeable_gpus(), 1024) << name;
    EXPECT_EQ(c.inter.nics_per_node, 4) << name;  // one NIC per GPU
    EXPECT_TRUE(c.intra.nvls) << name;
  }
}

TEST(NvlinkDomain, RoundTripsThroughJson) {
  Diagnostics d;
  const Cluster c = parse(tray_cluster(), d);
  ASSERT_TRUE(d.ok()) << d.errors.front();
  Diagnostics d2;
  const Cluster back = parse(to_json(c), d2);
  ASSERT_TRUE(d2.ok()) << d2.errors.front();
  EXPECT_EQ(back.domain_gpus(), 72);  // no segment: whole domains
  EXPECT_EQ(back.gpus_per_node, 4);
}

TEST(NvlinkDomain, ADomainThatIsNotWholeNodesIsRefusedNamingTheField) {
  for (int64_t bad : {70, 2}) {
    auto j = tray_cluster();
    j["nvlink_domain_gpus"] = bad;
    Diagnostics d;
    parse(j, d);
    ASSERT_FALSE(d.ok()) << bad;
    EXPECT_NE(d.errors.front().find("cluster.nvlink_domain_gpus"), std::string::npos)
        << d.errors.front();
    EXPECT_NE(d.errors.front().find("multiple of gpus_per_node (4)"), std::string::npos)
        << d.errors.front();
  }
}

TEST(NvlinkDomain, ASegmentIsWholeNodesOfTheDomainAndRoundTrips) {
  for (int64_t bad : {62, 76, 2}) {
    auto j = tray_cluster();
    j["nvlink_domain_segment_gpus"] = bad;
    Diagnostics d;
    parse(j, d);
    ASSERT_FALSE(d.ok()) << bad;
    EXPECT_NE(d.errors.front().find("cluster.nvlink_domain_segment_gpus"), std::string::npos)
        << d.errors.front();
  }
  auto j = tray_cluster();
  j["nvlink_domain_segment_gpus"] = 64;
  Diagnostics d;
  const Cluster c = parse(j, d);
  ASSERT_TRUE(d.ok()) << d.errors.front();
  EXPECT_EQ(c.domain_gpus(), 64);
  EXPECT_EQ(c.placeable_gpus(), 2 * 64);  // 36 trays = 2 racks
  Diagnostics d2;
  EXPECT_EQ(parse(to_json(c), d2).domain_gpus(), 64);
}

TEST(BlackwellPresets, CarryBlockScaledPeaksThatHopperLacks) {
  const Cluster h100 = load_cluster("dgx-h100-80g");
  EXPECT_EQ(h100.gpu.peak_flops(DType::MXFP8), 0);
  EXPECT_EQ(h100.gpu.peak_flops(DType::NVFP4), 0);
  for (const char* name : {"dgx-b200", "dgx-b300", "gb200-nvl72", "gb300-nvl72"}) {
    const Cluster c = load_cluster(name);
    EXPECT_EQ(c.gpu.generation, "blackwell") << name;
    // MXFP8 runs at the FP8 rate; NVFP4 at twice it or more (B300/GB300: 2.9-3x).
    EXPECT_EQ(c.gpu.peak_flops(DType::MXFP8), c.gpu.peak_flops(DType::FP8)) << name;
    EXPECT_GE(c.gpu.peak_flops(DType::NVFP4), 2 * c.gpu.peak_flops(DType::FP8)) << name;
    // Dense BF16 is 2.25-2.5 PFLOP/s: 2.3-2.5x an H100; HBM 8 TB/s, memory >= 180 GiB.
    EXPECT_GE(c.gpu.peak_flops_bf16, 2.25e12 * 1000) << name;
    EXPECT_GE(c.gpu.memory_bytes, 180.0 * 1024 * 1024 * 1024) << name;
    EXPECT_EQ(c.gpu.memory_bytes_per_s, 8e12) << name;
    EXPECT_EQ(c.intra.bandwidth_bytes_per_s, 900e9) << name;  // NVLink 5, per direction
    EXPECT_GE(c.economics.gpu_power_W, 1000) << name;
    // The peaks survive a round trip through the JSON writer.
    Diagnostics d;
    const Cluster back = cluster_from_json(to_json(c), d);
    ASSERT_TRUE(d.ok()) << name;
    EXPECT_EQ(back.gpu.peak_flops_nvfp4, c.gpu.peak_flops_nvfp4) << name;
    EXPECT_EQ(back.gpu.peak_flops_mxfp8, c.gpu.peak_flops_mxfp8) << name;
  }
}

}  // namespace
}  // namespace parplan
