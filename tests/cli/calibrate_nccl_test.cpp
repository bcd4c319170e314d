// `parplan calibrate --nccl-tests`: fits the link efficiency and latency from an nccl-tests table.
#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>

#include "run_cli.hpp"

namespace {

// An all_reduce_perf table on 8 ranks made from known link parameters: bus bandwidth 200 GB/s
// at 8 GiB; 8 B in 6.6 us + 14 steps x 3 us x 0.6/3.4 (NCCL's LL protocol on a 3 us link).
std::string write_table(const std::string& path) {
  std::ofstream f(path);
  f << "# nThread 1 nGpus 8 minBytes 8 maxBytes 8589934592 step: 2(factor) warmup iters: 5\n";
  for (int r = 0; r < 8; ++r)
    f << "#  Rank  " << r << " Group  0 Pid  1 on host device  " << r << " [0x07] NVIDIA A100\n";
  f << "#       size         count      type   redop    root     time   algbw   busbw #wrong\n";
  const double t8 = 6.6 + 14 * 3.0 * 0.6 / 3.4;
  f << "           8             2     float     sum      -1   " << t8 << "    0.00    0.00      0\n";
  const double big = 8589934592.0, busbw = 200.0;
  const double t = big * 2 * 7 / 8 / (busbw * 1e9) * 1e6;
  f << "  8589934592    2147483648     float     sum      -1  " << t << "  " << big / t / 1e3
    << "  " << busbw << "      0\n";
  return path;
}

TEST(CliCalibrateNccl, FitsLinkEfficiencyAndLatencyAndWritesANewClusterFile) {
  const std::string in = write_table(testing::TempDir() + "/all_reduce_perf.txt");
  const std::string out = testing::TempDir() + "/fitted-cluster.json";
  std::remove(out.c_str());
  auto r = run_cli("calibrate --nccl-tests " + in + " --cluster dgx-a100-80g --out " + out);
  ASSERT_EQ(r.code, 0) << r.out;
  std::ifstream f(out);
  const auto j = nlohmann::json::parse(f);
  EXPECT_NEAR(j["efficiency"]["intra_node_link"].get<double>(), 200.0 / 300.0, 1e-6);
  EXPECT_NEAR(j["intra_node"]["latency_us"].get<double>(), 3.0, 1e-3);
  // The written cluster predicts the table's large-message bus bandwidth back.
  r = run_cli("collective --op all_reduce --bytes 8G --gpus 8 --cluster " + out + " --json");
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_NEAR(nlohmann::json::parse(r.out)["bus_bandwidth_GBps"].get<double>(), 200.0, 2.0);
  // Nothing is overwritten.
  r = run_cli("calibrate --nccl-tests " + in + " --out " + out);
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.out.find("--out"), std::string::npos) << r.out;
  std::remove(out.c_str());
  std::remove(in.c_str());
}

TEST(CliCalibrateNccl, AFileWithoutResultsExits2) {
  const std::string in = testing::TempDir() + "/empty_all_gather_perf.txt";
  std::ofstream(in) << "# nothing here\n";
  const auto r = run_cli("calibrate --nccl-tests " + in + " --out " + testing::TempDir() + "/x.json");
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.out.find("--nccl-tests"), std::string::npos) << r.out;
  std::remove(in.c_str());
}

}  // namespace
