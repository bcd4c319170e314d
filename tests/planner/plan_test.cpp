#include "parplan/planner/plan.hpp"

#include <gtest/gtest.h>

#include "fixtures.hpp"

namespace parplan::planner {
namespace {

TEST(MakePlan, CarriesTheLayoutPredictionAndRulesAndRoundTripsThroughJson) {
  auto in = test::gpt2();
  SearchOptions o;
  o.gpus = 8;
  auto r = search(in.m, in.c, in.t, o);
  ASSERT_FALSE(r.top.empty());
  auto rules = evaluate_rules(in.m, in.c, in.t, 8, r);
  Plan p = make_plan(in.m, in.c, in.t, r.top.front(), rules);
  EXPECT_EQ(p.layout, r.top.front().layout);
  EXPECT_EQ(p.prediction["step_time_s"].get<double>(), r.top.front().cost.step_time_s);
  EXPECT_EQ(p.rules.size(), 12u);

  Diagnostics d;
  Plan back = plan_from_json(to_json(p), d);
  EXPECT_TRUE(d.ok()) << (d.ok() ? "" : d.errors.front());
  EXPECT_EQ(back.layout, p.layout);
  EXPECT_EQ(back.model.name, "gpt2-124m");
  EXPECT_EQ(back.rules.size(), 12u);
}

}  // namespace
}  // namespace parplan::planner
