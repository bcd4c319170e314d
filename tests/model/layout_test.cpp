#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "parplan/model/io.hpp"

using namespace parplan;

namespace {
std::string errors_of(const Layout& l, const Model& m, const Cluster& c, const Training& t) {
  Diagnostics d;
  validate(l, m, c, t, d);
  std::string s;
  for (auto& e : d.errors) s += e + "\n";
  return s;
}
}  // namespace

TEST(LayoutJson, RoundTrips) {
  Layout l;
  l.dp = 16;
  l.tp = 8;
  l.pp = 8;
  l.zero = 1;
  l.recompute = Recompute::Selective;
  l.sequence_parallel = true;
  l.schedule = Schedule::Interleaved;
  l.virtual_stages = 3;
  Diagnostics d;
  EXPECT_EQ(layout_from_json(to_json(l), d), l);
  EXPECT_TRUE(d.ok());
}

TEST(LayoutJson, VirtualStagesImplyTheInterleavedSchedule) {
  Diagnostics d;
  Layout l = layout_from_json(nlohmann::json{{"pp", 8}, {"virtual_stages", 3}}, d);
  EXPECT_EQ(l.schedule, Schedule::Interleaved);
}

TEST(LayoutValidation, ChecksDivisibilityAgainstTheInputs) {
  Model m = load_model("gpt3-175b");
  Cluster c = load_cluster("dgx-a100-80g");
  Training t = load_training("gpt3-1536");
  Layout ok{.dp = 16, .tp = 8, .pp = 8};
  EXPECT_EQ(errors_of(ok, m, c, t), "");
  Layout bad_tp = ok;
  bad_tp.tp = 5;
  EXPECT_NE(errors_of(bad_tp, m, c, t).find("layout.tp"), std::string::npos);
  Layout bad_pp = ok;
  bad_pp.pp = 97;
  EXPECT_NE(errors_of(bad_pp, m, c, t).find("layout.pp"), std::string::npos);
  Layout uneven = ok;  // 96 layers on 7 stages: allowed, with a warning
  uneven.pp = 7;
  uneven.dp = 1;
  Diagnostics d;
  validate(uneven, m, c, t, d);
  EXPECT_TRUE(d.ok());
  ASSERT_EQ(d.warnings.size(), 1u);
  EXPECT_NE(d.warnings[0].find("uneven"), std::string::npos);
  Layout bad_batch = ok;
  bad_batch.micro_batch = 5;
  EXPECT_NE(errors_of(bad_batch, m, c, t).find("global_batch"), std::string::npos);
  Layout too_big = ok;
  too_big.dp = 1024;
  EXPECT_NE(errors_of(too_big, m, c, t).find("cluster has"), std::string::npos);
}
