// The sweep over GPU counts: count parsing, the Pareto front, deadline / budget picks, the knee.
#include "parplan/planner/sweep.hpp"

#include <gtest/gtest.h>

#include "parplan/model/io.hpp"

namespace parplan::planner {
namespace {

SweepRow row(int64_t gpus, double wall_s, double cost) {
  SweepRow r;
  r.gpus = gpus;
  r.feasible = true;
  r.run.wall_s = wall_s;
  r.run.cost = cost;
  return r;
}

TEST(Sweep, ParsesGpuCounts) {
  EXPECT_EQ(parse_gpu_counts("64..1024"), (std::vector<int64_t>{64, 128, 256, 512, 1024}));
  EXPECT_EQ(parse_gpu_counts("48,8,16,8"), (std::vector<int64_t>{8, 16, 48}));
  EXPECT_EQ(parse_gpu_counts("8..8"), (std::vector<int64_t>{8}));
  EXPECT_THROW(parse_gpu_counts("1024..64"), Error);
  EXPECT_THROW(parse_gpu_counts("0..64"), Error);
  EXPECT_THROW(parse_gpu_counts("8,,16"), Error);
  EXPECT_THROW(parse_gpu_counts("eight"), Error);
  EXPECT_THROW(parse_gpu_counts("-8"), Error);
}

TEST(Sweep, ParetoFrontOfAHandMadeSet) {
  // (wall, cost): A(10,100) B(20,50) C(15,120) D(30,50) E(40,40), F infeasible.
  std::vector<SweepRow> rows = {row(8, 10, 100), row(4, 20, 50), row(6, 15, 120),
                                row(3, 30, 50), row(2, 40, 40), SweepRow{}};
  mark_pareto(rows);
  // C is slower and dearer than A; D as costly as B but slower; F has no plan.
  EXPECT_TRUE(rows[0].pareto);
  EXPECT_TRUE(rows[1].pareto);
  EXPECT_FALSE(rows[2].pareto);
  EXPECT_FALSE(rows[3].pareto);
  EXPECT_TRUE(rows[4].pareto);
  EXPECT_FALSE(rows[5].pareto);
  // Deadline 25: A (100), B (50), C (120) finish; B is cheapest.
  EXPECT_EQ(pick_deadline(rows, 25), 1);
  EXPECT_EQ(pick_deadline(rows, 5), -1);
  // Budget 60: B (20), D (30), E (40) fit; B is fastest.
  EXPECT_EQ(pick_budget(rows, 60), 1);
  EXPECT_EQ(pick_budget(rows, 10), -1);
  // Front A(10,100) B(20,50) E(40,40) in log space: B lies farthest from the line A-E.
  EXPECT_EQ(knee(rows), 1);
}

TEST(Sweep, BestPlanPerCountWithItsRun) {
  Model m = load_model("llama2-7b");
  Cluster c = load_cluster("dgx-a100-80g");
  Training t = load_training("gpt3-1536");
  t.tokens = 2e12;  // Llama 2: 2T tokens (Touvron et al. 2023 Table 1)
  SweepOptions o;
  o.gpus = {64, 128, 256};
  o.threads = 1;
  const auto rows = sweep(m, c, t, o);
  ASSERT_EQ(rows.size(), 3u);
  for (const auto& r : rows) {
    ASSERT_TRUE(r.feasible) << r.gpus << ": " << r.reason;
    EXPECT_EQ(r.best.layout.gpus(), r.gpus);
    EXPECT_EQ(r.run.gpus, r.gpus);
    // 2e12 / (1536 * 2048) = 635,782.9 -> 635,783 steps.
    EXPECT_EQ(r.run.steps, 635783);
    EXPECT_NEAR(r.run.wall_s, r.run.steps * r.best.cost.step_time_s / r.run.goodput.goodput,
                1e-6 * r.run.wall_s);
  }
  // More GPUs finish sooner.
  EXPECT_LT(rows[2].run.wall_s, rows[0].run.wall_s);
  // The fastest row is always on the front.
  EXPECT_TRUE(rows[2].pareto);
}

TEST(Sweep, NeedsTokens) {
  SweepOptions o;
  o.gpus = {8};
  EXPECT_THROW(sweep(load_model("llama2-7b"), load_cluster("dgx-a100-80g"),
                     load_training("gpt3-1536"), o),
               Error);
}

}  // namespace
}  // namespace parplan::planner
