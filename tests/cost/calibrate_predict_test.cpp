#include "parplan/cost/calibrate_predict.hpp"

#include <gtest/gtest.h>

#include <cmath>

#include "parplan/model/io.hpp"

using namespace parplan;
using namespace parplan::cost;

namespace {
// Rows "measured" on a cluster whose large GEMMs reach 80% of what the preset says: a fit on a
// few of them must predict the others.
double slow_matmul_max() { return 0.8 * load_cluster("dgx-h100-80g").efficiency.matmul_max; }
CorpusRun slow_row(const std::string& source, int i) {
  CorpusRun r;
  r.source = source;
  r.id = std::to_string(i);
  r.fit = true;
  r.model = load_model(i % 2 ? "llama3-8b" : "megatron-22b");
  r.cluster = load_cluster("dgx-h100-80g");
  r.training = load_training(R"({"global_batch": )" + std::to_string(32 << (i % 3)) + R"(, "seq_len": 4096})");
  r.layout = load_layout(R"({"dp": 2, "tp": )" + std::to_string(1 << (i % 3)) + R"(, "pp": 1, "micro_batch": 1, "zero": 1})");
  r.cluster.nodes = 1;
  Cluster slow = r.cluster;
  slow.efficiency.matmul_max = slow_matmul_max();
  r.measured = predict(r.model, slow, r.training, r.layout).step_time_s;
  return r;
}
}  // namespace

TEST(FitOwnRuns, LeaveOneRunOutPredictsEachRunFromTheOthers) {
  std::vector<CorpusRun> rows;
  for (int i = 0; i < 6; ++i) rows.push_back(slow_row("mine", i));
  const OwnRunsFit f = fit_own_runs(rows, load_cluster("dgx-h100-80g"));
  ASSERT_EQ(f.left_out.size(), 6u);
  for (size_t i = 0; i < rows.size(); ++i) {
    EXPECT_LT(f.before[i], -0.05) << i;  // the preset predicts these rows too fast
    EXPECT_LT(std::fabs(f.left_out[i]), std::fabs(f.before[i]) / 2) << i;
    EXPECT_NEAR(f.left_out_log[i], -std::log(1 + f.left_out[i]), 1e-12);
  }
  EXPECT_LT(f.fit.rms_log_after, f.fit.rms_log_before / 2);
  EXPECT_LT(f.fitted.efficiency.matmul_max, load_cluster("dgx-h100-80g").efficiency.matmul_max);
}

// Three compute-bound runs inform the GEMM efficiency most: with one parameter per 3 runs it is
// the one fitted; six runs inform two, every parameter once there are enough runs.
TEST(CalibrateThenPredict, FewRowsFitOnlyTheParametersTheyInform) {
  std::vector<CorpusRun> rows;
  for (int i = 0; i < 24; ++i) rows.push_back(slow_row("mine", i));
  std::vector<const CorpusRun*> three = {&rows[0], &rows[1], &rows[2]}, six = three;
  for (int i = 3; i < 6; ++i) six.push_back(&rows[size_t(i)]);
  const auto every = fit_parameters(six);
  const auto p3 = informed_parameters(three, every);
  ASSERT_EQ(p3.size(), 1u);
  EXPECT_STREQ(p3[0].name, "matmul_max");
  const auto p6 = informed_parameters(six, every);
  ASSERT_EQ(p6.size(), 2u);
  EXPECT_STREQ(p6[0].name, "matmul_max");
  std::vector<const CorpusRun*> all;
  for (const auto& r : rows) all.push_back(&r);
  EXPECT_EQ(informed_parameters(all, every).size(), every.size());
  // Fitted alone with the own-cluster prior, 3 rows move it most of the way (from 1.25x).
  const FitResult f = fit_efficiencies(three, p3, kOwnClusterPrior);
  EXPECT_LT(f.values[0], 1.06 * slow_matmul_max());
  EXPECT_GT(f.values[0], 0.97 * slow_matmul_max());
}

TEST(CalibrateThenPredict, FitsOnThreeRowsOfASourceAndPredictsTheRest) {
  std::vector<CorpusSource> corpus(2);
  corpus[0].id = "big";
  corpus[0].fit_source = true;
  for (int i = 0; i < 7; ++i) corpus[0].runs.push_back(slow_row("big", i));
  corpus[1].id = "small";  // fewer than 6 rows: not in the table
  for (int i = 0; i < 5; ++i) corpus[1].runs.push_back(slow_row("small", i));
  const auto t = calibrate_then_predict(corpus);
  ASSERT_EQ(t.size(), 1u);
  EXPECT_EQ(t[0].source, "big");
  EXPECT_EQ(t[0].rotations, 35u);  // every choice of 3 of the 7 rows
  EXPECT_GT(t[0].default_median, 0.05);
  EXPECT_LT(t[0].median, t[0].default_median / 2);
  // With every other row (6: two parameters), each row is predicted at least as well.
  EXPECT_LT(t[0].all_but_one, t[0].default_median / 2);
  EXPECT_LE(t[0].all_but_one, t[0].median + 1e-3);
  EXPECT_LE(t[0].lo, t[0].median);
  EXPECT_GE(t[0].hi, t[0].median);
  EXPECT_NE(calibrate_then_predict_table(t).find("big"), std::string::npos);
}

// A source the corpus fit held out starts from the fit without it: here that fit found the value
// the rows were made with, so the unseen error is nil (from the preset's value it is not).
TEST(CalibrateThenPredict, AHeldOutSourceStartsFromTheFitWithoutIt) {
  std::vector<CorpusSource> corpus(1);
  corpus[0].id = "big";
  corpus[0].fit_source = true;
  for (int i = 0; i < 7; ++i) corpus[0].runs.push_back(slow_row("big", i));
  std::vector<const CorpusRun*> rows;
  for (const auto& r : corpus[0].runs) rows.push_back(&r);
  LosoReport loso;
  loso.held_out = {"big"};
  FitResult without;
  for (const auto& p : fit_parameters(rows))
    if (std::string(p.name) == "matmul_max") without.params.push_back(p);
  without.values = {slow_matmul_max()};
  loso.fits = {without};
  const auto from_preset = calibrate_then_predict(corpus);
  const auto from_loso = calibrate_then_predict(corpus, &loso);
  ASSERT_EQ(from_loso.size(), 1u);
  EXPECT_GT(from_preset[0].default_median, 0.05);
  EXPECT_LT(from_loso[0].default_median, 1e-6);
  EXPECT_LT(from_loso[0].median, 1e-3);
}

TEST(OwnResiduals, PredictionsOnAFittedClusterTakeTheirIntervalFromThem) {
  const Cluster c = load_cluster("dgx-h100-80g");
  const Training t = load_training("llama3-8k");
  StepCost s;
  s.step_time_s = 10;
  s.model_tflops_per_gpu = 400;
  s.time.compute = 10;
  const Interval corpus = prediction_interval(load_model("llama3-8b"), c, t, s);
  const Interval few = own_interval({-0.02, 0.01, 0.03}, s, corpus);  // too few: the corpus's, said so
  EXPECT_NE(few.basis.find("too few"), std::string::npos) << few.basis;
  EXPECT_DOUBLE_EQ(few.step_hi, corpus.step_hi);
  const std::vector<double> mine = {-0.04, -0.02, 0.0, 0.01, 0.03, 0.05};
  const Interval own = own_interval(mine, s, corpus);
  EXPECT_NE(own.basis.find("your 6 runs"), std::string::npos) << own.basis;
  EXPECT_NEAR(own.step_lo, 10 * std::exp(percentile(mine, 0.05)), 1e-9);
  EXPECT_NEAR(own.step_hi, 10 * std::exp(percentile(mine, 0.95)), 1e-9);
  EXPECT_LT(own.step_hi - own.step_lo, corpus.step_hi - corpus.step_lo);
}
