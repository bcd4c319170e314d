// `parplan sweep` and the whole-run block of predict/plan, through the binary.
#include <gtest/gtest.h>

#include <algorithm>

#include <nlohmann/json.hpp>

#include "run_cli.hpp"

namespace {

const std::string kLlama7 =
    "--model llama2-7b --cluster dgx-a100-80g --train gpt3-1536 --tokens 2e12 ";

TEST(CliSweep, TableMarksTheFrontAndPicksForADeadline) {
  CliResult r = run_cli("sweep " + kLlama7 + "--gpus 64..256 -j 1 --deadline 60d");
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("Pareto front"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("cheapest plan within the deadline 60d"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("time to train"), std::string::npos) << r.out;
}

TEST(CliSweep, JsonRowsCarryTheRunBlock) {
  CliResult r = run_cli("sweep " + kLlama7 + "--gpus 64,128 -j 1 --json", true);
  ASSERT_EQ(r.code, 0) << r.out;
  auto j = nlohmann::json::parse(r.out);
  ASSERT_TRUE(j.is_array());
  ASSERT_EQ(j.size(), 2u);
  for (const auto& row : j) {
    EXPECT_TRUE(row.contains("gpus"));
    EXPECT_TRUE(row["pareto"].is_boolean());
    EXPECT_EQ(row["layout"]["tp"].get<int>() * row["layout"]["pp"].get<int>() *
                  row["layout"]["dp"].get<int>() * row["layout"]["cp"].get<int>(),
              row["gpus"].get<int>());
    const auto& run = row["prediction"]["run"];
    for (const char* k : {"tokens", "steps", "wall_s", "gpu_hours", "cost", "currency",
                          "energy_kWh", "goodput", "checkpoint_interval_s"})
      EXPECT_TRUE(run.contains(k)) << k;
    EXPECT_EQ(run["currency"], "USD");
    EXPECT_GT(run["cost"].get<double>(), 0);
  }
}

TEST(CliSweep, CsvHasAHeaderAndOneLinePerCount) {
  CliResult r = run_cli("sweep " + kLlama7 + "--gpus 64,128 -j 1 --csv", true);
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_EQ(r.out.rfind("gpus,layout,step_s", 0), 0u) << r.out;
  EXPECT_EQ(std::count(r.out.begin(), r.out.end(), '\n'), 3);
}

TEST(CliSweep, AnUnreachableDeadlineNamesTheFastestPlan) {
  CliResult r = run_cli("sweep " + kLlama7 + "--gpus 64,128 -j 1 --deadline 1h");
  EXPECT_EQ(r.code, 2) << r.out;
  EXPECT_NE(r.out.find("no plan finishes within --deadline 1h"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("the fastest, on 128 GPUs, takes"), std::string::npos) << r.out;
}

TEST(CliSweep, BadInputsAreClearErrors) {
  CliResult r = run_cli("sweep --model llama2-7b --cluster dgx-a100-80g --train gpt3-1536 --gpus 8");
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.out.find("tokens"), std::string::npos) << r.out;
  r = run_cli("sweep " + kLlama7 + "--gpus 64..8");
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.out.find("--gpus"), std::string::npos) << r.out;
  r = run_cli("sweep " + kLlama7 + "--gpus 64 --deadline tomorrow");
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.out.find("--deadline"), std::string::npos) << r.out;
  r = run_cli("sweep " + kLlama7 + "--gpus 64 --tokens -5");
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.out.find("--tokens"), std::string::npos) << r.out;
}

TEST(CliPredict, TokensAddTheRunBlock) {
  const std::string args =
      "predict --model gpt3-175b --cluster dgx-a100-80g --train gpt3-1536 --tokens 300e9 "
      "--layout '{\"dp\": 16, \"tp\": 8, \"pp\": 8, \"zero\": 1, \"recompute\": \"full\"}'";
  CliResult r = run_cli(args);
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("whole run"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("GPU-hours"), std::string::npos) << r.out;
  r = run_cli(args + " --json", true);
  ASSERT_EQ(r.code, 0) << r.out;
  auto j = nlohmann::json::parse(r.out);
  // 300e9 / (1536 * 2048) = 95,367.4 -> 95,368 steps.
  EXPECT_EQ(j["run"]["steps"].get<double>(), 95368);
  EXPECT_NEAR(j["run"]["wall_s"].get<double>(),
              95368 * j["step_time_s"].get<double>() / j["run"]["goodput"].get<double>(),
              1e-6 * j["run"]["wall_s"].get<double>());
}

}  // namespace

namespace {
TEST(CliExplain, TokensAddTheCostView) {
  CliResult r = run_cli("explain " + kLlama7 + "--gpus 256 -j 1");
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("cost view: "), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("scaling efficiency"), std::string::npos) << r.out;
  r = run_cli("explain " + kLlama7 + "--gpus 256 -j 1 --json", true);
  ASSERT_EQ(r.code, 0) << r.out;
  auto j = nlohmann::json::parse(r.out);
  EXPECT_TRUE(j["cost_view"]["text"].is_string());
  EXPECT_GT(j["best"]["prediction"]["run"]["gpu_hours"].get<double>(), 0);
}
}  // namespace

namespace {
TEST(CliSweep, JsonMarksTheBudgetPick) {
  CliResult r = run_cli("sweep " + kLlama7 + "--gpus 64,128 -j 1 --json --budget 1e9", true);
  ASSERT_EQ(r.code, 0) << r.out;
  auto j = nlohmann::json::parse(r.out);
  ASSERT_TRUE(j.is_array());
  int picks = 0;
  for (const auto& row : j) picks += row.value("pick", false);
  EXPECT_EQ(picks, 1);
  // Both fit a budget of 1e9 USD: the fastest (128 GPUs) is picked.
  EXPECT_TRUE(j[1].value("pick", false));
}
}  // namespace
