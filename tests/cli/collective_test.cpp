// `parplan collective`: nccl-tests-style output, JSON fields, sweeps, the published bus
// bandwidths of one DGX node (tests/data/nccl-tests/published.json), bad input.
#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>

#include "parplan/model/io.hpp"
#include "run_cli.hpp"

namespace {

TEST(CliCollective, MatchesPublishedNcclTestsBusBandwidthOnOneNodeWithinTenPercent) {
  std::ifstream in(std::string(PARPLAN_SOURCE_DIR) + "/tests/data/nccl-tests/published.json");
  ASSERT_TRUE(in.good());
  const auto pub = nlohmann::json::parse(in);
  ASSERT_GE(pub["rows"].size(), 2u);
  for (const auto& row : pub["rows"]) {
    const auto r = run_cli("collective --op " + row["op"].get<std::string>() + " --bytes " +
                           row["bytes"].get<std::string>() + " --gpus " +
                           std::to_string(row["gpus"].get<int>()) + " --cluster " +
                           row["cluster"].get<std::string>() + " --json");
    ASSERT_EQ(r.code, 0) << r.out;
    const auto j = nlohmann::json::parse(r.out);
    const double measured = row["bus_bandwidth_GBps"];
    EXPECT_NEAR(j["bus_bandwidth_GBps"].get<double>() / measured, 1.0, 0.10)
        << row["cluster"] << " predicted " << j["bus_bandwidth_GBps"] << " GB/s";
  }
}

TEST(CliCollective, JsonHasTimeBandwidthsAndAlgorithm) {
  // 1 GiB all-gather on 8 A100s, Simple ring: 8.4 us + 7 x 2 us + 7/8 x 2^30 / (300 GB/s x the
  // shipped A100 intra_node_link, examples/calibration/efficiency.json).
  const auto r = run_cli("collective --op all_gather --bytes 1G --gpus 8 --json");
  ASSERT_EQ(r.code, 0) << r.out;
  const auto j = nlohmann::json::parse(r.out);
  const double link = parplan::load_cluster("dgx-a100-80g").efficiency.intra_node_link;
  const double t = 8.4e-6 + 7 * 2e-6 + 7.0 / 8 * 1073741824.0 / (300e9 * link);
  EXPECT_NEAR(j["time_s"].get<double>(), t, 1e-9);
  EXPECT_NEAR(j["algorithm_bandwidth_GBps"].get<double>(), 1073741824.0 / t / 1e9, 1e-6);
  EXPECT_NEAR(j["bus_bandwidth_GBps"].get<double>(), 7.0 / 8 * 1073741824.0 / t / 1e9, 1e-6);
  EXPECT_EQ(j["algorithm"], "ring/Simple");
}

TEST(CliCollective, ARangeSweepsDoublingSizesAndSmallMessagesAreLatencyBound) {
  const auto r = run_cli("collective --op all_reduce --bytes 8..8M --gpus 64 --json");
  ASSERT_EQ(r.code, 0) << r.out;
  const auto j = nlohmann::json::parse(r.out);
  ASSERT_EQ(j.size(), 21u);  // 8 B .. 8 MiB
  EXPECT_LT(j[0]["bus_bandwidth_GBps"].get<double>(), 0.01);
  EXPECT_GT(j[20]["bus_bandwidth_GBps"].get<double>(), j[10]["bus_bandwidth_GBps"].get<double>());
  const auto table = run_cli("collective --op reduce_scatter --bytes 1M..4M --gpus 16");
  ASSERT_EQ(table.code, 0) << table.out;
  EXPECT_NE(table.out.find("busbw(GB/s)"), std::string::npos);
  EXPECT_NE(table.out.find("4194304"), std::string::npos);
}

TEST(CliCollective, BadInputExits2NamingTheOption) {
  auto r = run_cli("collective --op broadcast_all --bytes 8M --gpus 8");
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.out.find("--op"), std::string::npos) << r.out;
  r = run_cli("collective --op all_reduce --bytes 8Q --gpus 8");
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.out.find("--bytes"), std::string::npos) << r.out;
  r = run_cli("collective --op all_reduce --bytes 8M --gpus 12");
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.out.find("--gpus"), std::string::npos) << r.out;
  // On an NVL72 cluster a group spanning racks uses the job's 64-GPU segment of each: the
  // message names that count and the fix.
  r = run_cli("collective --op all_reduce --bytes 8M --gpus 100 --cluster gb200-nvl72");
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.out.find("use a multiple of 64"), std::string::npos) << r.out;
}

}  // namespace
