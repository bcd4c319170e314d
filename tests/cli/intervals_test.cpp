// Prediction intervals and statistical ties as `parplan predict`, `plan` and `validate` print them.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "run_cli.hpp"

TEST(CliIntervals, PredictJsonHasIntervalsAroundThePrediction) {
  CliResult r = run_cli(
      "predict --model gpt3-175b --cluster dgx-a100-80g --train gpt3-1536 --layout "
      "'{\"dp\": 16, \"tp\": 8, \"pp\": 8, \"zero\": 1, \"recompute\": \"selective\", "
      "\"sequence_parallel\": true}' --json",
      true);
  ASSERT_EQ(r.code, 0) << r.out;
  const auto j = nlohmann::json::parse(r.out);
  const auto& st = j.at("intervals").at("step_time_s");
  const auto& tf = j.at("intervals").at("model_tflops_per_gpu");
  ASSERT_EQ(st.size(), 2u);
  EXPECT_LE(st[0].get<double>(), j["step_time_s"].get<double>());
  EXPECT_GE(st[1].get<double>(), j["step_time_s"].get<double>());
  EXPECT_LE(tf[0].get<double>(), j["model_tflops_per_gpu"].get<double>());
  EXPECT_GE(tf[1].get<double>(), j["model_tflops_per_gpu"].get<double>());
}

TEST(CliIntervals, PredictTableAndPlanShowTheInterval) {
  CliResult p = run_cli("predict --model gpt3-175b --cluster dgx-a100-80g --train gpt3-1536 --layout '{\"dp\": 16, \"tp\": 8, \"pp\": 8, \"zero\": 1}'");
  ASSERT_EQ(p.code, 0) << p.out;
  EXPECT_NE(p.out.find("interval"), std::string::npos) << p.out;
  CliResult q = run_cli("plan --model llama2-7b --cluster dgx-a100-80g --train gpt3-1536 --gpus 8 --top 5");
  ASSERT_EQ(q.code, 0) << q.out;
  EXPECT_NE(q.out.find("rank 1: interval"), std::string::npos) << q.out;
}

TEST(CliIntervals, ValidatePrintsBothTablesAndTheCoverage) {
  CliResult r = run_cli("validate");
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("In sample"), std::string::npos);
  EXPECT_NE(r.out.find("Leave one source out"), std::string::npos);
  EXPECT_NE(r.out.find("korthikanti2022"), std::string::npos);
  EXPECT_NE(r.out.find("cover "), std::string::npos);
}
