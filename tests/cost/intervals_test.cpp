#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <random>
#include <tuple>

#include "parplan/cost/intervals.hpp"
#include "parplan/model/io.hpp"

using namespace parplan::cost;

namespace {
CaseClass dense_megatron() { return {"dense", "16-bit", "compute", "megatron-core", "ampere"}; }
// Four sources of four cases each, every source's cases alike (a source's setup dominates its
// error): a 0.0, b +0.1, c -0.1, d +0.3 (ln measured / predicted); the former method (the class's
// weighted percentiles).
IntervalTable four_sources() {
  IntervalTable t;
  t.method = IntervalTable::Method::Percentiles;
  for (const auto& [src, v] : std::vector<std::pair<const char*, double>>{
           {"a", 0.0}, {"b", 0.1}, {"c", -0.1}, {"d", 0.3}})
    for (int i = 0; i < 4; ++i) t.residuals.push_back({src, "r", dense_megatron(), v});
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
  // a's cases get the interval of b, c, d: [-0.1, +0.3] (each source weighs 1/3; the 5% and 95%
  // points fall inside the lowest and highest source): covered. b: a, c, d, [-0.1, 0.3]: covered.
  // c: a, b, d, [0, 0.3] (the interval always holds the prediction): -0.1 is not. d: a, b, c,
  // [-0.1, 0.1]: 0.3 is not. 8 of 16 covered.
  const Coverage c = coverage(four_sources());
  EXPECT_EQ(c.cases, 16u);
  EXPECT_EQ(c.covered, 8u);
  // Widths (hi - lo of a 1 s prediction): a, b e^0.3 - e^-0.1 = 0.44502; c e^0.3 - 1 = 0.34986;
  // d e^0.1 - e^-0.1 = 0.20033. The median of the 16 lies between 0.34986 and 0.44502.
  EXPECT_NEAR(c.median_width,
              0.5 * ((std::exp(0.3) - 1) + (std::exp(0.3) - std::exp(-0.1))), 1e-9);
}

TEST(Intervals, IntervalScalesThePredictionAndFallsBackToCoarserClasses) {
  const IntervalTable t = four_sources();
  const Interval iv = t.interval(dense_megatron(), compute_bound(10.0));
  EXPECT_NEAR(iv.step_lo, 10.0 * std::exp(-0.1), 1e-9);
  EXPECT_NEAR(iv.step_hi, 10.0 * std::exp(0.3), 1e-9);
  EXPECT_NEAR(iv.tflops_lo, 100 * 10.0 / iv.step_hi, 1e-9);
  EXPECT_NEAR(iv.tflops_hi, 100 * 10.0 / iv.step_lo, 1e-9);
  EXPECT_EQ(iv.cases, 16u);
  EXPECT_EQ(iv.level, "dense 16-bit compute-bound megatron-core ampere short-context");
  EXPECT_NE(iv.basis.find("(16 cases, 4 sources)"), std::string::npos) << iv.basis;
  // No fsdp2 and no Hopper case: the interval comes from the class of the architecture and the
  // precision; no fp8 MoE case: from every case.
  const Interval h = t.interval({"dense", "16-bit", "compute", "fsdp2", "hopper"}, compute_bound(10.0));
  EXPECT_EQ(h.cases, 16u);
  EXPECT_EQ(h.level, "dense 16-bit short-context");
  // An fsdp2 Ampere case has the generation's class without the framework.
  const Interval a = t.interval({"dense", "16-bit", "compute", "fsdp2", "ampere"}, compute_bound(10.0));
  EXPECT_EQ(a.level, "dense 16-bit ampere short-context");
  const Interval m = t.interval({"moe-fine", "fp8", "compute", "megatron-core", "hopper"}, compute_bound(10.0));
  EXPECT_EQ(m.level, "all");
  // A class of one source is too thin: with "a" alone left, the interval says so; with "a"
  // and "b", min_sources, it is their class.
  IntervalTable one, two;
  for (const auto& r : t.residuals) {
    if (r.source == std::string("a")) one.residuals.push_back(r);
    if (r.source == std::string("a") || r.source == std::string("b")) two.residuals.push_back(r);
  }
  ASSERT_EQ(two.min_sources, 2u);
  EXPECT_NE(one.interval(dense_megatron(), compute_bound(1)).basis.find("fewer sources"),
            std::string::npos);
  EXPECT_NE(two.interval(dense_megatron(), compute_bound(1)).basis.find("(8 cases, 2 sources)"),
            std::string::npos);
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
  parplan::Model m;
  const Interval iv = prediction_interval(m, c, t, p);
  EXPECT_GT(iv.cases, 0u);
  EXPECT_LE(iv.step_lo, 5.0);
  EXPECT_GE(iv.step_hi, 5.0);
  EXPECT_LT(iv.step_lo, iv.step_hi);
}

// The residuals are those of the model as it predicts, out of sample: a fit source's from the
// refit without it (leave one source out), another source's from the default efficiencies.
TEST(Intervals, ResidualsAreTheShippedModelsOutOfSampleErrors) {
  CorpusRun fit_run, other_run;
  fit_run.source = "fitsrc", fit_run.id = "a", fit_run.measured = 10, fit_run.figure = Figure::StepTime;
  other_run.source = "other", other_run.id = "b", other_run.measured = 10, other_run.figure = Figure::StepTime;
  auto report = [](const CorpusRun& r, bool fit, double predicted_step) {
    SourceReport s;
    s.id = r.source;
    s.fit_source = fit;
    RowResult row;
    row.run = &r;
    row.predicted.step_time_s = predicted_step;
    row.predicted.time.compute = predicted_step;
    s.rows.push_back(row);
    return s;
  };
  LosoReport loso;
  loso.sources = {report(fit_run, true, 8.0), report(other_run, false, 12.0)};  // refits
  const std::vector<SourceReport> shipped = {report(fit_run, true, 9.0), report(other_run, false, 11.0)};
  const IntervalTable t = interval_table(loso, shipped);
  ASSERT_EQ(t.residuals.size(), 2u);
  EXPECT_NEAR(t.residuals[0].log_ratio, std::log(10.0 / 8.0), 1e-12);   // fit source: LOSO
  EXPECT_NEAR(t.residuals[1].log_ratio, std::log(10.0 / 11.0), 1e-12);  // other: defaults
  EXPECT_EQ(t.residuals[0].cls.bound, "compute");
  EXPECT_EQ(t.residuals[0].cls.arch, "dense");
}

TEST(Intervals, CaseClassSeparatesWhatDrivesTheError) {
  using parplan::load_cluster;
  using parplan::load_model;
  using parplan::load_training;
  const auto h100 = load_cluster("dgx-h100-80g");
  auto t = load_training("llama3-8k");
  const StepCost s = compute_bound(1.0);
  CaseClass k = case_class(load_model("llama3-70b"), h100, t, s);
  EXPECT_EQ(k.arch, "dense");
  EXPECT_EQ(k.precision, "16-bit");
  EXPECT_EQ(k.bound, "compute");
  EXPECT_EQ(k.framework, "megatron-core");
  EXPECT_EQ(k.generation, "hopper");
  EXPECT_EQ(case_class(load_model("mixtral-8x7b"), h100, t, s).arch, "moe");       // 14336-wide experts
  EXPECT_EQ(case_class(load_model("deepseek-v3"), h100, t, s).arch, "moe-fine");   // 2048 < 7168
  EXPECT_EQ(k.context, "short-context");  // 8K tokens
  t.seq_len = 131072;
  EXPECT_EQ(case_class(load_model("llama3-70b"), h100, t, s).context, "long-context");
  t.dtype = parplan::DType::FP8;
  t.framework = "fsdp2";
  StepCost comm = s;
  comm.time.compute = 0.4;  // communication and bubble are the larger part
  k = case_class(load_model("llama3-70b"), h100, t, comm);
  EXPECT_EQ(k.precision, "fp8");
  EXPECT_EQ(k.bound, "overhead");
  EXPECT_EQ(k.framework, "fsdp2");
}

TEST(Intervals, CoverageByClassSplitsTheCasesByTheClassTheirIntervalCameFrom) {
  IntervalTable t = four_sources();
  // Five fp8 sources of two cases each, all close to the prediction (without its own source a
  // case still has 8 of 4 sources: its own class).
  for (const char* src : {"e", "f", "g", "h", "i"})
    for (int i = 0; i < 2; ++i)
      t.residuals.push_back({src, "r", {"dense", "fp8", "compute", "megatron-core", "hopper"}, 0.01});
  const auto by = coverage_by_class(t);
  ASSERT_EQ(by.size(), 2u);
  EXPECT_EQ(by[0].first, "dense 16-bit compute-bound megatron-core ampere short-context");
  EXPECT_EQ(by[0].second.cases, 16u);
  EXPECT_EQ(by[0].second.covered, 8u);  // as CoverageIsComputedFromTheOtherSourcesResiduals
  EXPECT_EQ(by[1].first, "dense fp8 compute-bound megatron-core hopper short-context");
  EXPECT_EQ(by[1].second.cases, 10u);
  EXPECT_EQ(by[1].second.covered, 10u);
  EXPECT_LT(by[1].second.median_width, 0.02);  // not widened by the 16-bit sources
  const Coverage all = coverage(t);
  EXPECT_EQ(all.cases, 26u);
  EXPECT_EQ(all.covered, 18u);
}

// Not widened to hold the prediction, the interval lies where the class's cases fell around
// their predictions: a class that ran 10-30% slower than predicted gets [1.1 p, 1.3 p], and its
// basis says so; the prediction itself is not moved.
TEST(Intervals, ACentredIntervalLiesWhereTheClassFellAndSaysSo) {
  IntervalTable t;
  t.method = IntervalTable::Method::Percentiles;
  int n = 0;
  for (const char* src : {"a", "b", "c", "d", "e"})
    for (int i = 0; i < 2; ++i, ++n) t.residuals.push_back({src, "r", dense_megatron(), std::log(1.1 + 0.2 * n / 9.0)});
  t.contain_prediction = false;
  const Interval iv = t.interval(dense_megatron(), compute_bound(10.0));
  EXPECT_GT(iv.step_lo, 10.0 * 1.1 - 1e-9);
  EXPECT_LT(iv.step_hi, 10.0 * 1.3 + 1e-9);
  EXPECT_NEAR(iv.step_lo, 10.0 * std::exp(iv.log_lo), 1e-9);
  EXPECT_NE(iv.basis.find("ran +1"), std::string::npos) << iv.basis;
  // Held: the same class's interval reaches down to the prediction.
  t.contain_prediction = true;
  const Interval held = t.interval(dense_megatron(), compute_bound(10.0));
  EXPECT_DOUBLE_EQ(held.step_lo, 10.0);
  EXPECT_DOUBLE_EQ(held.step_hi, iv.step_hi);
  EXPECT_EQ(held.basis.find("ran"), std::string::npos) << held.basis;
  // Out of sample (each case against the other four sources): the held interval contains the
  // centred one, so it covers at least as many cases, at a greater width.
  const Coverage c_held = coverage(t);
  t.contain_prediction = false;
  const Coverage c_centred = coverage(t);
  EXPECT_LT(c_centred.median_width, c_held.median_width);
  EXPECT_GE(c_held.covered, c_centred.covered);
  EXPECT_GT(c_centred.covered, 0u);
}

// With the context key in its levels (shipped), a long-context case's interval comes only from
// long-context cases (and says so); without it, short and long cases pool.
TEST(Intervals, TheContextKeySeparatesLongContextCases) {
  IntervalTable t = four_sources();  // short-context, residuals 0 .. +0.3
  CaseClass long_ctx = dense_megatron();
  long_ctx.context = "long-context";
  for (const char* src : {"e", "f", "g"})
    for (int i = 0; i < 3; ++i) t.residuals.push_back({src, "r", long_ctx, 0.5});
  const std::vector<unsigned> shipped = t.levels;  // the context key in every class but "all"
  for (auto& l : t.levels) l &= ~IntervalTable::kContext;
  const Interval pooled = t.interval(long_ctx, compute_bound(1.0));
  EXPECT_EQ(pooled.cases, 25u);
  t.levels = shipped;
  const Interval split = t.interval(long_ctx, compute_bound(1.0));
  EXPECT_EQ(split.cases, 9u);
  EXPECT_EQ(split.level, "dense 16-bit compute-bound megatron-core ampere long-context");
  EXPECT_NEAR(split.step_hi, std::exp(0.5), 1e-9);
  EXPECT_DOUBLE_EQ(split.step_lo, 1.0);  // held: down to the prediction
  const Interval short_split = t.interval(dense_megatron(), compute_bound(1.0));
  EXPECT_EQ(short_split.cases, 16u);
  EXPECT_NEAR(short_split.step_hi, std::exp(0.3), 1e-9);
}

// The span is the narrowest of kSpans that covers kTargetCoverage of the cases out of sample: a
// corpus whose sources agree gets 10-90%; four sources that disagree (8 of 16 covered by any
// span) get the widest, and its coverage is what choose_span returns.
TEST(Intervals, ChooseSpanTakesTheNarrowestThatCoversTheTarget) {
  IntervalTable agree;
  agree.method = IntervalTable::Method::Percentiles;
  for (const char* src : {"a", "b", "c", "d", "e"})
    for (int i = 0; i < 2; ++i) agree.residuals.push_back({src, "r", dense_megatron(), 0.02 * i});
  const Coverage a = choose_span(agree);
  EXPECT_DOUBLE_EQ(agree.lo_q, 0.10);
  EXPECT_DOUBLE_EQ(agree.hi_q, 0.90);
  EXPECT_GE(a.fraction(), kTargetCoverage);
  IntervalTable disagree = four_sources();
  const Coverage d = choose_span(disagree);
  EXPECT_DOUBLE_EQ(disagree.lo_q, 0.025);
  EXPECT_DOUBLE_EQ(disagree.hi_q, 0.975);
  EXPECT_EQ(d.covered, 8u);
  EXPECT_EQ(d.cases, 16u);
}

TEST(Intervals, StudentsTQuantileMatchesTheTables) {
  // Two-sided 80%, 90% and 95% points of Student's t (any statistics table).
  EXPECT_NEAR(t_quantile(0.90, 1), 3.0777, 1e-3);
  EXPECT_NEAR(t_quantile(0.90, 2), 1.8856, 1e-3);
  EXPECT_NEAR(t_quantile(0.90, 5), 1.4759, 1e-3);
  EXPECT_NEAR(t_quantile(0.95, 10), 1.8125, 1e-3);
  EXPECT_NEAR(t_quantile(0.975, 3), 3.1824, 1e-3);
  EXPECT_NEAR(t_quantile(0.90, 1000), 1.2824, 1e-3);  // toward the normal's 1.2816
  EXPECT_NEAR(t_quantile(0.10, 5), -t_quantile(0.90, 5), 1e-12);
  EXPECT_TRUE(std::isnan(t_quantile(0.9, 0)));
}

namespace {
// n_sources sources of `per` cases: each source offset by N(0, tau), each case by N(0, sigma).
IntervalTable simulated(int n_sources, int per, double tau, double sigma, unsigned seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<double> between(0, tau), within(0, sigma);
  IntervalTable t;
  for (int s = 0; s < n_sources; ++s) {
    const double offset = between(rng);
    for (int i = 0; i < per; ++i)
      t.residuals.push_back({"s" + std::to_string(s), "r", dense_megatron(), offset + within(rng)});
  }
  t.contain_prediction = false;
  return t;
}
}  // namespace

// The random-effects interval is a prediction interval for a case of a new source: drawn from a
// known two-level spread, each case against the interval built without its own source is covered
// about as often as the nominal level says, and a case's interval spans about
// 2 z sqrt(tau^2 + sigma^2) around the sources' mean.
TEST(Intervals, TheRandomEffectsIntervalCoversANewSourceAtItsNominalLevel) {
  const IntervalTable t = simulated(60, 4, 0.10, 0.05, 7);
  ASSERT_EQ(t.method, IntervalTable::Method::RandomEffects);
  for (const double level : {0.8, 0.9}) {
    IntervalTable at = t;
    at.level = level;
    const Coverage c = coverage(at);
    EXPECT_NEAR(c.fraction(), level, 0.07) << level;
  }
  const Interval iv = t.interval(dense_megatron(), compute_bound(1.0));
  const double half = 1.2816 * std::sqrt(0.10 * 0.10 + 0.05 * 0.05);
  EXPECT_NEAR(0.5 * (iv.log_hi - iv.log_lo), half, 0.25 * half);
  EXPECT_NE(iv.basis.find("80% for a new source"), std::string::npos) << iv.basis;
  // Few sources: Student's t and the between-source variance's uncertainty widen it; without a
  // between-source spread (every source alike) only the within-source spread is left.
  const IntervalTable few = simulated(4, 4, 0.10, 0.05, 7);
  const Interval w = few.interval(dense_megatron(), compute_bound(1.0));
  EXPECT_GT(w.log_hi - w.log_lo, 2 * 1.2816 * 0.05);
  IntervalTable alike = simulated(6, 4, 0.0, 0.05, 3);
  alike.prior_sources = 0;
  const Interval a = alike.interval(dense_megatron(), compute_bound(1.0));
  EXPECT_LT(a.log_hi - a.log_lo, 2 * 2.1 * 0.05);
}

// Where sources disagree by a few offsets, the classes' percentiles (with 2-7 sources a
// 2.5-97.5% span is their min-max) either miss the target or reach it wider than the
// random-effects interval.
TEST(Intervals, OnTheCorpusTheRandomEffectsIntervalCoversTheTargetNarrowerThanPercentiles) {
  IntervalTable t = corpus_interval_table();
  ASSERT_EQ(t.method, IntervalTable::Method::RandomEffects);
  const Coverage re = coverage(t);
  EXPECT_GE(re.fraction(), kTargetCoverage);  // choose_span's level (of kLevels) reaches it
  t.method = IntervalTable::Method::Percentiles;
  const Coverage pc = choose_span(t);
  EXPECT_TRUE(pc.fraction() < kTargetCoverage || re.median_width < pc.median_width)
      << pc.fraction() << " at " << pc.median_width << " vs " << re.median_width;
  // The Llama-3 70B example of issue 20 (512 H100, dp16 tp8 pp4): its class is dense 16-bit
  // Hopper short-context, without the long-context and MoE rows; the interval holds the
  // prediction and says how it was made.
  using parplan::load_cluster;
  using parplan::load_model;
  using parplan::load_training;
  using parplan::load_layout;
  const auto m = load_model("llama3-70b");
  const auto c = load_cluster("dgx-h100-80g");
  const auto tr = load_training("llama3-8k");
  const auto l = load_layout(R"({"dp":16,"tp":8,"pp":4,"micro_batch":1,"zero":1,"recompute":"selective","sequence_parallel":true})");
  const StepCost p = predict(m, c, tr, l);
  const Interval iv = prediction_interval(m, c, tr, p);
  EXPECT_NE(iv.level.find("hopper short-context"), std::string::npos) << iv.basis;
  EXPECT_NE(iv.basis.find("for a new source"), std::string::npos) << iv.basis;
  EXPECT_LE(iv.step_lo, p.step_time_s);
  EXPECT_GE(iv.step_hi, p.step_time_s);
}

// Where the generation's class is thin, the precision's comes before the generation's: a 16-bit
// Hopper case with one 16-bit Hopper source gets the interval of the 16-bit sources (Ampere's
// too), not that of the Hopper ones, whose FP8 sources ran 35% slower than predicted.
TEST(Intervals, APrecisionClassComesBeforeAGenerationClass) {
  IntervalTable t;
  const CaseClass h16{"dense", "16-bit", "compute", "fsdp2", "hopper"};
  const CaseClass h8{"dense", "fp8", "compute", "fsdp2", "hopper"};
  const CaseClass a16{"dense", "16-bit", "compute", "fsdp2", "ampere"};
  for (const auto& [src, k, v] : std::vector<std::tuple<const char*, CaseClass, double>>{
           {"h1", h16, 0.02}, {"f1", h8, 0.3}, {"f2", h8, 0.35}, {"f3", h8, 0.4},
           {"a1", a16, 0.0}, {"a2", a16, 0.04}, {"a3", a16, -0.04}})
    for (int i = 0; i < 3; ++i) t.residuals.push_back({src, "r", k, v + 0.01 * i});
  const Interval iv = t.interval(h16, compute_bound(1.0));
  EXPECT_EQ(iv.level, "dense 16-bit short-context");
  EXPECT_NE(iv.basis.find("(12 cases, 4 sources)"), std::string::npos) << iv.basis;
  EXPECT_LT(iv.step_hi, std::exp(0.3));  // the FP8 sources' offset is not in it
  // The FP8 Hopper case has its own class.
  EXPECT_EQ(t.interval(h8, compute_bound(1.0)).level, "dense fp8 compute-bound fsdp2 hopper short-context");
  // The other order pools the Hopper sources, FP8 among them.
  std::swap(t.levels[2], t.levels[3]);
  const Interval by_generation = t.interval(h16, compute_bound(1.0));
  EXPECT_EQ(by_generation.level, "dense hopper short-context");
  EXPECT_GT(by_generation.step_hi, iv.step_hi);
}

// The level's choice out of sample: on a known two-level spread, each source's cases at the
// level chosen on the other sources alone are covered about as often as the target; every case
// is checked once.
TEST(Intervals, TheNestedCheckCoversTheTargetOnANewSource) {
  const IntervalTable t = simulated(40, 3, 0.10, 0.05, 11);
  const Coverage n = nested_coverage(t);
  EXPECT_EQ(n.cases, t.residuals.size());
  EXPECT_NEAR(n.fraction(), kTargetCoverage, 0.08);
  IntervalTable chosen = t;
  const Coverage c = choose_span(chosen);
  EXPECT_NEAR(n.median_width, c.median_width, 0.25 * c.median_width);
  // Sources that disagree by more than any class spread: the nested check does not cover them
  // just because the level was chosen on them.
  const Coverage d = nested_coverage(four_sources());
  EXPECT_EQ(d.cases, 16u);
  EXPECT_LE(d.covered, 8u);
}

// On the corpus: every case's interval (without its own source) comes from a class of at least
// min_cases cases of min_sources sources, named in its basis; the level is the lowest of kLevels
// that covers the target (a lower one does not); the nested check covers every case.
TEST(Intervals, OnTheCorpusEveryIntervalComesFromAClassWithEnoughSources) {
  const IntervalTable& t = corpus_interval_table();
  StepCost p = compute_bound(1.0);
  for (const auto& r : t.residuals) {
    const Interval iv = t.interval(r.cls, p, r.source);
    size_t cases = 0, sources = 0;
    const auto at = iv.basis.find(" cases, ");
    ASSERT_NE(at, std::string::npos) << r.run << ": " << iv.basis;
    ASSERT_EQ(std::sscanf(iv.basis.c_str() + iv.basis.rfind('(', at), "(%zu cases, %zu sources)", &cases, &sources), 2)
        << iv.basis;
    EXPECT_GE(cases, t.min_cases) << r.source << "/" << r.run;
    EXPECT_GE(sources, t.min_sources) << r.source << "/" << r.run;
    if (iv.level.find(r.cls.framework) != std::string::npos) {  // a class keyed by the framework
      EXPECT_GE(sources, t.min_sources_framework) << r.source << "/" << r.run;
    }
    EXPECT_EQ(iv.basis.rfind(iv.level, 0), 0u) << iv.basis;
  }
  // Per class: every case is in exactly one class's row, and a case's class is its own
  // architecture's (a dense case never takes an MoE class's spread) unless it backed off to "all".
  size_t in_classes = 0;
  for (const auto& [name, c] : coverage_by_class(t)) in_classes += c.cases;
  EXPECT_EQ(in_classes, t.residuals.size());
  for (const auto& r : t.residuals) {
    const Interval iv = t.interval(r.cls, p, r.source);
    EXPECT_TRUE(iv.level == "all" || iv.level.rfind(r.cls.arch + " ", 0) == 0) << r.run << ": " << iv.level;
  }
  for (const double level : kLevels) {
    if (level >= t.level) break;
    IntervalTable lower = t;
    lower.level = level;
    EXPECT_LT(coverage(lower).fraction(), kTargetCoverage) << level;
  }
  EXPECT_EQ(nested_coverage(t).cases, t.residuals.size());
}
