// `parplan simulate` through the binary: the examples run, --json has the documented keys,
// --trace writes the committed example trace, bad input exits 2 with a message.
#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "../cli/run_cli.hpp"

namespace {
const std::string kSrc = PARPLAN_SOURCE_DIR;

std::string slurp(const std::string& path) {
  std::ifstream f(path);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}
}  // namespace

TEST(SimulateCli, Gpt3ExamplePlanMatchesTheAnalyticalStepWithinFivePercent) {
  auto r = run_cli(
      "simulate --plan " + shell_quote(kSrc + "/examples/plans/gpt3-175b-64gpu.json") + " --json",
      true);
  ASSERT_EQ(r.code, 0) << r.out;
  auto j = nlohmann::json::parse(r.out);
  for (const char* k : {"step_time_s", "analytical_step_time_s", "wall_s", "ranks", "links"})
    EXPECT_TRUE(j.contains(k)) << k;
  ASSERT_FALSE(j["ranks"].empty());
  for (const char* k : {"rank", "compute_s", "exposed_comm_s", "bubble_s"})
    EXPECT_TRUE(j["ranks"][0].contains(k)) << k;
  ASSERT_FALSE(j["links"].empty());
  EXPECT_TRUE(j["links"][0].contains("name") && j["links"][0].contains("utilization"));
  EXPECT_NEAR(j["step_time_s"].get<double>() / j["analytical_step_time_s"].get<double>(), 1.0,
              0.05);
}

TEST(SimulateCli, TraceOfTheSmallExampleEqualsTheCommittedTrace) {
  const std::string out = std::string(PARPLAN_BINARY_DIR) + "/sim-cli-test.trace";
  auto r = run_cli("simulate --plan " + shell_quote(kSrc + "/examples/plans/gpt2-16gpu-sim.json") +
                   " --trace " + shell_quote(out));
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("simulated step"), std::string::npos) << r.out;
  auto made = nlohmann::json::parse(slurp(out));
  auto committed = nlohmann::json::parse(slurp(kSrc + "/examples/traces/gpt2-16gpu-sim.trace"));
  EXPECT_EQ(made, committed)
      << "regenerate examples/traces/gpt2-16gpu-sim.trace (see docs/simulation.md)";
}

TEST(SimulateCli, BadInputExitsTwoWithAMessage) {
  auto plan = nlohmann::json::parse(slurp(kSrc + "/examples/plans/gpt2-16gpu-sim.json"));
  plan["cluster"]["nodes"] = 1;  // 16 GPUs do not fit on one node
  auto r = run_cli("simulate --plan " + shell_quote(plan.dump()));
  EXPECT_EQ(r.code, 2) << r.out;
  EXPECT_NE(r.out.find("error"), std::string::npos) << r.out;
  r = run_cli("simulate --plan " + shell_quote(kSrc + "/examples/plans/gpt2-16gpu-sim.json") +
              " --network udp");
  EXPECT_EQ(r.code, 2) << r.out;
  r = run_cli("simulate --plan /nonexistent/plan.json");
  EXPECT_EQ(r.code, 2) << r.out;
}

TEST(SimulateCli, ASimulationPastMaxSimSIsStoppedWithAMessage) {
  auto plan = nlohmann::json::parse(slurp(kSrc + "/examples/plans/gpt3-175b-64gpu.json"));
  plan["cluster"]["nodes"] = 128;
  plan["layout"]["dp"] = 16;
  plan["train"]["global_batch"] = 1536;
  auto r = run_cli("simulate --all-replicas --granularity layer --max-sim-s 0.3 --plan " +
                   shell_quote(plan.dump()));
  EXPECT_EQ(r.code, 2) << r.out;
  EXPECT_NE(r.out.find("wall-time limit"), std::string::npos) << r.out;
}
