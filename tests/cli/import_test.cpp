// `parplan import` -> `validate --runs` -> `fit --runs` on log excerpts in the frameworks' formats
// (tests/data/logs), and import's refusals (one `error:` line, exit 2).
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "run_cli.hpp"

namespace {
const std::string kLogs = std::string(PARPLAN_SOURCE_DIR) + "/tests/data/logs/";

std::string fresh_dir(const std::string& name) {
  const std::string d = testing::TempDir() + "/" + name;
  std::filesystem::remove_all(d);
  std::filesystem::create_directories(d);
  return d;
}
int error_lines(const std::string& out) {
  int n = 0;
  for (size_t p = out.find("error:"); p != std::string::npos; p = out.find("error:", p + 1)) ++n;
  return n;
}
}  // namespace

TEST(CliImport, RoundTripsThreeFrameworksThroughValidateAndFit) {
  const std::string dir = fresh_dir("runs");
  auto r = run_cli("import " + kLogs + "megatron-llama3-8b-tp2.log --cluster dgx-h100-80g --out " +
                   dir + "/megatron.json");
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("megatron log: 10 logged steps, 2 dropped as warm-up"), std::string::npos) << r.out;
  r = run_cli("import " + kLogs + "torchtitan-llama3-8b.log --config " + kLogs +
              "torchtitan-llama3-8b.toml --cluster dgx-h100-80g --out " + dir + "/titan.json");
  ASSERT_EQ(r.code, 0) << r.out;
  r = run_cli("import " + kLogs + "deepspeed-llama2-7b-zero3.log --model llama2-7b --seq-len 4096 "
              "--cluster dgx-h100-80g --out " + dir + "/ds.json");
  ASSERT_EQ(r.code, 0) << r.out;
  // The written run is a corpus file: its row says what ran.
  std::ifstream f(dir + "/megatron.json");
  const auto j = nlohmann::json::parse(f);
  EXPECT_EQ(j["runs"][0]["layout"]["tp"], 2);
  EXPECT_EQ(j["runs"][0]["steps"]["dropped_as_warmup"], 2);
  EXPECT_TRUE(j["fit_source"].get<bool>());

  r = run_cli("validate --runs " + dir, true);
  ASSERT_EQ(r.code, 0) << r.out;
  // Each run is a source of its own, named by its log (import --id changes it).
  for (const char* id : {"megatron-llama3-8b-tp2", "torchtitan-llama3-8b", "deepspeed-llama2-7b-zero3"})
    EXPECT_NE(r.out.find(id), std::string::npos) << id << "\n" << r.out;
  EXPECT_NE(r.out.find("Leave one source out"), std::string::npos);

  const std::string fitted = dir + "/../h100.fitted.json";
  std::filesystem::remove(fitted);
  r = run_cli("fit --runs " + dir + " --cluster dgx-h100-80g --out " + fitted, true);
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("before"), std::string::npos);
  EXPECT_NE(r.out.find("left out"), std::string::npos);
  EXPECT_NE(r.out.find("3 runs, 6 are needed"), std::string::npos) << r.out;
  std::ifstream g(fitted);
  const auto c = nlohmann::json::parse(g);
  EXPECT_EQ(c["own_residuals"].size(), 3u);
  // The fitted cluster predicts without a warning about its extra key.
  r = run_cli("predict --model llama3-8b --cluster " + fitted +
              " --train '{\"global_batch\": 128, \"seq_len\": 8192}'"
              " --layout '{\"dp\": 4, \"tp\": 2, \"zero\": 1, \"sequence_parallel\": true}'");
  EXPECT_EQ(r.code, 0) << r.out;
  EXPECT_EQ(r.out.find("warning"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("too few for their own"), std::string::npos) << r.out;
  // Nothing is overwritten.
  r = run_cli("fit --runs " + dir + " --cluster dgx-h100-80g --out " + fitted);
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.out.find("exists"), std::string::npos);
}

TEST(CliImport, RefusesBadLogsWithOneClearMessage) {
  const std::string dir = fresh_dir("refusals");
  struct Case {
    const char* log;
    const char* says;
  } cases[] = {
      {"megatron-truncated.log", "truncated"},
      {"megatron-no-config.log", "no arguments block"},
      {"megatron-mixed.log", "two runs in one log"},
      {"megatron-world-size.log", "the world size is 16 but the layout"},
  };
  for (const auto& c : cases) {
    const auto r = run_cli("import " + kLogs + c.log + " --cluster dgx-h100-80g --out " + dir + "/x.json");
    EXPECT_EQ(r.code, 2) << c.log << "\n" << r.out;
    EXPECT_NE(r.out.find(c.says), std::string::npos) << c.log << "\n" << r.out;
    EXPECT_EQ(error_lines(r.out), 1) << r.out;
    EXPECT_FALSE(std::filesystem::exists(dir + "/x.json")) << c.log;
  }
  // What the log cannot tell names the option.
  auto r = run_cli("import " + kLogs + "megatron-llama3-8b-tp2.log --out " + dir + "/x.json");
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.out.find("pass --cluster"), std::string::npos) << r.out;
  r = run_cli("import " + kLogs + "deepspeed-llama2-7b-zero3.log --cluster dgx-h100-80g --out " + dir + "/x.json");
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.out.find("pass --model"), std::string::npos) << r.out;
  r = run_cli("import " + kLogs + "torchtitan-llama3-8b.toml --cluster dgx-h100-80g --out " + dir + "/x.json");
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.out.find("none of the logs parplan reads"), std::string::npos) << r.out;
  r = run_cli("validate --runs " + dir);
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.out.find("no *.json"), std::string::npos) << r.out;
}

TEST(CliValidate, PrintsThePerClassIntervalsAndCalibrateThenPredict) {
  auto r = run_cli("validate", true);
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("Intervals per class"), std::string::npos);
  EXPECT_NE(r.out.find("dense 16-bit ampere"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("Calibrate then predict"), std::string::npos);
  EXPECT_NE(r.out.find("of 235 measured runs predicted to fit"), std::string::npos) << r.out;
  r = run_cli("validate --json", true);
  ASSERT_EQ(r.code, 0);
  const auto j = nlohmann::json::parse(r.out);
  // The memory check: every row counted, the ones over their GPU listed with their terms.
  const auto& mem = j.at("memory");
  EXPECT_EQ(mem["runs"], 235);
  EXPECT_EQ(mem["predicted_to_fit"].get<size_t>() + mem["predicted_not_to_fit"].size(), 235u);
  for (const auto& o : mem["predicted_not_to_fit"]) {
    EXPECT_FALSE(o["terms_bytes"].empty());
    EXPECT_GT(o["predicted_bytes"].get<double>(), 0.0);
  }
  EXPECT_EQ(mem["published_peak"].size(), 18u);  // torchtitan's H100 tables publish the peak
  size_t cases = 0;
  for (const auto& c : j["coverage_by_class"]) cases += c["cases"].get<size_t>();
  EXPECT_EQ(cases, j["coverage"]["cases"].get<size_t>());  // every case in exactly one class
  bool korthikanti = false;
  for (const auto& c : j["calibrate_then_predict"])
    if (c["source"] == "korthikanti2022") {
      korthikanti = true;
      EXPECT_EQ(c["rotations"], 56);  // 8 choose 3
      // Fitted on 3 of Table 5's iteration times, the other 5 within 5% (median).
      EXPECT_LT(c["median_abs_error"].get<double>(), 0.05);
      EXPECT_LE(c["spread"][0].get<double>(), c["median_abs_error"].get<double>());
    }
  EXPECT_TRUE(korthikanti);
}

TEST(CliImport, ReadsAParplanRunMeasuredJson) {
  const std::string dir = fresh_dir("measured");
  auto r = run_cli("predict --model gpt2-124m --cluster dgx-a100-80g --train '{\"global_batch\": 64, "
                   "\"seq_len\": 1024}' --layout '{\"dp\": 8, \"micro_batch\": 8}' --out " + dir + "/plan.json");
  ASSERT_EQ(r.code, 0) << r.out;
  std::ifstream p(dir + "/plan.json");
  nlohmann::json m = {{"mean_step_time_s", 0.34}, {"median_step_time_s", 0.30}, {"min_step_time_s", 0.29},
                      {"tokens_per_s", 64 * 1024 / 0.34}, {"mfu", 0.3}, {"peak_memory_bytes", {2e10}},
                      {"memory_kind", "cuda_max_allocated"},
                      {"step_times_s", {0.31, 0.29, 0.30, 0.50, 0.30}}, {"plan", nlohmann::json::parse(p)}};
  std::ofstream(dir + "/measured.json") << m.dump();
  r = run_cli("import " + dir + "/measured.json --out " + dir + "/run.json");
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("parplan-run log: 5 logged steps"), std::string::npos) << r.out;
  std::ifstream f(dir + "/run.json");
  const auto j = nlohmann::json::parse(f);
  EXPECT_DOUBLE_EQ(j["runs"][0]["measured"]["step_time_s"].get<double>(), 0.30);  // the median
  EXPECT_EQ(j["runs"][0]["layout"]["dp"], 8);
  EXPECT_EQ(j["runs"][0]["cluster"], "dgx-a100-80g");  // the plan's cluster
}

// `parplan fit --help` is fit's own usage (served by parplan, no LibTorch), naming the
// parplan-run form; without --runs or --help the command is still parplan-run's.
TEST(CliFit, HelpShowsFitsOwnUsage) {
  auto r = run_cli("fit --help");
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("Usage: parplan fit"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("--runs"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("--measured"), std::string::npos) << r.out;  // the other form, named
  EXPECT_EQ(r.out.find("parplan-run, which could not be started"), std::string::npos) << r.out;
  r = run_cli("fit -h");
  EXPECT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("Usage: parplan fit"), std::string::npos) << r.out;
}
