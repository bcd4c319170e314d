// measured.json as compare/fit read it (issue 11 item 15: wrongly typed fields were raw
// nlohmann type_error messages with exit 1; a file without a plan gave -nan% in fit).
#include "parplan/model/measured.hpp"

#include <gtest/gtest.h>

using namespace parplan;

namespace {
nlohmann::json good() {
  return {{"mean_step_time_s", 0.5}, {"median_step_time_s", 0.25}, {"min_step_time_s", 0.2},
          {"tokens_per_s", 1000.0},  {"mfu", 0.1},                 {"peak_memory_bytes", {1e6, 3e6}},
          {"memory_kind", "model_state"}};
}
std::string errors(const nlohmann::json& j, const std::string& stat = "mean") {
  Diagnostics d;
  measured_from_json(j, stat, "m.json", d);
  std::string s;
  for (auto& e : d.errors) s += e + "\n";
  return s;
}
}  // namespace

TEST(Measured, ReadsTheStatisticAndRescalesThroughput) {
  Diagnostics d;
  auto m = measured_from_json(good(), "median", "m.json", d);
  ASSERT_TRUE(d.ok());
  EXPECT_DOUBLE_EQ(m.step_time_s, 0.25);
  EXPECT_DOUBLE_EQ(m.tokens_per_s, 2000.0);  // 1000 tokens/s at the mean 0.5 s -> 0.25 s
  EXPECT_DOUBLE_EQ(m.mfu, 0.2);
  EXPECT_DOUBLE_EQ(m.memory_bytes, 3e6);
  EXPECT_TRUE(m.model_state_only);
  EXPECT_FALSE(m.has_plan);
}

TEST(Measured, WronglyTypedFieldsNameTheField) {
  auto j = good();
  j["mean_step_time_s"] = "fast";
  EXPECT_NE(errors(j).find("measured.mean_step_time_s: must be a number, got \"fast\""), std::string::npos)
      << errors(j);
  j = good();
  j["peak_memory_bytes"] = {1.0, "x"};
  EXPECT_NE(errors(j).find("measured.peak_memory_bytes[1]: must be a byte count"), std::string::npos);
  j = good();
  j["mean_step_time_s"] = 0;
  EXPECT_NE(errors(j).find("mean_step_time_s: must be > 0"), std::string::npos) << errors(j);
  j = good();
  j.erase("min_step_time_s");
  EXPECT_NE(errors(j, "min").find("measured.min_step_time_s: is missing"), std::string::npos);
  EXPECT_NE(errors(good(), "p99").find("unknown statistic"), std::string::npos);
  EXPECT_NE(errors(nlohmann::json::array()).find("must be a JSON object"), std::string::npos);
  EXPECT_NE(errors({{"loss", 1}}).find("not a measured.json"), std::string::npos);
}
