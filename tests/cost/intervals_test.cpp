#include <gtest/gtest.h>

#include <cmath>

#include "parplan/cost/intervals.hpp"

using namespace parplan::cost;

namespace {
IntervalTable two_sources() {
  IntervalTable t;
  for (const char* src : {"a", "b"})
    for (double v : {-0.1, -0.05, 0.0, 0.0, 0.0, 0.0, 0.05, 0.1})
      t.residuals.push_back({src, "r", "ampere", "megatron-core", "compute", v});
  return t;
}
StepCost compute_bound(double step) {
  StepCost s;
  s.step_time_s = step;
  s.model_tflops_per_gpu = 100;
  s.time.compute = 0.9 * step;
  s.time.tp_comm = 0.1 * step;
  return s;
}
}  // namespace

TEST(Intervals, PercentileInterpolatesBetweenOrderStatistics) {
  // 8 sorted values: the 5th percentile sits at position 0.35: -0.1 * 0.65 + -0.05 * 0.35.
  const std::vector<double> v = {0.1, -0.1, 0, 0, 0.05, 0, 0, -0.05};
  EXPECT_NEAR(percentile(v, 0.05), -0.0825, 1e-12);
  EXPECT_NEAR(percentile(v, 0.95), 0.0825, 1e-12);
  EXPECT_DOUBLE_EQ(percentile(v, 0.5), 0.0);
}

TEST(Intervals, CoverageIsComputedFromTheOtherSourcesResiduals) {
  // Each case's interval comes from the other source's 8 residuals: exp(-0.0825)..exp(0.0825).
  // The +-0.1 cases fall outside, the 6 others inside: 12 of 16 covered.
  const Coverage c = coverage(two_sources());
  EXPECT_EQ(c.cases, 16u);
  EXPECT_EQ(c.covered, 12u);
  EXPECT_NEAR(c.median_width, std::exp(0.0825) - std::exp(-0.0825), 1e-9);
}

TEST(Intervals, IntervalScalesThePredictionAndFallsBackToCoarserClasses) {
  const IntervalTable t = two_sources();
  const Interval iv = t.interval("ampere", "megatron-core", compute_bound(10.0));
  // 16 residuals: the 5th percentile sits at position 0.75 of {-0.1, -0.1, -0.05, ...}, between
  // the two -0.1s: -0.1; the 95th likewise at +0.1.
  EXPECT_NEAR(iv.step_lo, 10.0 * std::exp(-0.1), 1e-9);
  EXPECT_NEAR(iv.step_hi, 10.0 * std::exp(0.1), 1e-9);
  EXPECT_NEAR(iv.tflops_lo, 100 * 10.0 / iv.step_hi, 1e-9);
  EXPECT_EQ(iv.cases, 16u);
  EXPECT_NE(iv.basis.find("ampere megatron-core compute-bound"), std::string::npos) << iv.basis;
  // No hopper case: the interval comes from every case of the same dominant cost.
  const Interval h = t.interval("hopper", "fsdp2", compute_bound(10.0));
  EXPECT_EQ(h.cases, 16u);
  EXPECT_EQ(h.basis.find("hopper"), std::string::npos) << h.basis;
}

TEST(Intervals, DominantCostIsTheLargestShare) {
  StepCost s;
  s.time.compute = 1, s.time.dp_comm_exposed = 2, s.time.pp_bubble = 0.5;
  EXPECT_EQ(dominant_cost(s), "dp");
  s.time.tp_comm = 1.5, s.time.cp_comm = 1;
  EXPECT_EQ(dominant_cost(s), "tp");
}

TEST(Intervals, TheCorpusTableGivesEveryPredictionAnIntervalAroundIt) {
  const StepCost p = compute_bound(5.0);
  parplan::Cluster c;
  c.gpu.peak_flops_bf16 = 312e12;
  parplan::Training t;
  const Interval iv = prediction_interval(c, t, p);
  EXPECT_GT(iv.cases, 0u);
  EXPECT_LE(iv.step_lo, 5.0);
  EXPECT_GE(iv.step_hi, 5.0);
  EXPECT_LT(iv.step_lo, iv.step_hi);
}
