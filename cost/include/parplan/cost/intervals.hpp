#pragma once
// How sure a prediction is: an interval from the corpus's leave-one-source-out residuals of
// similar cases (same architecture, precision, bound and framework; coarser when too few).
#include <string>
#include <vector>

#include "parplan/cost/corpus_fit.hpp"

namespace parplan::cost {

// The largest share of the step: compute, tp (TP + CP communication), pp (bubble + sends),
// dp (exposed DP / ZeRO communication) or optimizer.
std::string dominant_cost(const StepCost& s);

// What drives a case's error, as interval classes key it: the architecture (dense; moe: experts
// at least as wide as the model; moe-fine: experts narrower than the hidden size, DeepSeek /
// Qwen3 style), the GEMM precision (16-bit or fp8), whether compute is at least half of the
// predicted step (compute) or communication, bubble and overheads are (overhead), the framework
// and the GPU generation.
struct CaseClass {
  std::string arch, precision, bound, framework, generation;
};
CaseClass case_class(const Model& m, const Cluster& c, const Training& t, const StepCost& s);

struct Residual {
  std::string source, run;
  CaseClass cls;
  double log_ratio = 0;  // ln(measured / predicted) step time
};

struct Interval {
  double step_lo = 0, step_hi = 0;      // seconds
  double tflops_lo = 0, tflops_hi = 0;  // model TFLOP/s per GPU
  std::string basis;  // which residuals: "dense 16-bit compute-bound megatron-core (12 cases, 4 sources)"
  std::string level;  // the class they came from: "dense 16-bit compute megatron-core", ... "all"
  size_t cases = 0;
  // The class's residual quantiles, ln(measured / predicted): where its cases fell around their
  // predictions (before widening to hold the prediction).
  double log_lo = 0, log_hi = 0;
};

struct IntervalTable {
  std::vector<Residual> residuals;
  // 5th and 95th percentiles of the class's residuals (each source weighing as much as any
  // other), from at least min_cases cases of min_sources sources.
  double lo_q = 0.05, hi_q = 0.95;
  size_t min_cases = 8;
  size_t min_sources = 3;
  // Widen to hold the prediction itself. Off: the interval is where the class's cases fell
  // around their predictions (the prediction printed stays the model's; when the class runs
  // slower or faster than predicted the interval says so and may not hold it).
  bool contain_prediction = true;
  bool per_source_weight = true;   // each source's cases share a weight of 1 (else 1 per case)
  // The classes tried, most specific first: sets of CaseClass keys (kArch | kPrecision | ...).
  // The GPU generation is in each class that has the cases for it: its kernels' efficiencies
  // are what the model's offsets follow (docs/calibration.md "Intervals").
  static constexpr unsigned kArch = 1, kPrecision = 2, kBound = 4, kFramework = 8, kGeneration = 16;
  std::vector<unsigned> levels = {kArch | kPrecision | kBound | kFramework | kGeneration,
                                  kArch | kPrecision | kGeneration, kArch | kGeneration,
                                  kArch | kPrecision, kArch, 0};

  // The interval for a prediction of class `k`: from the most specific class of `levels` with
  // enough cases (arch + precision + bound + framework + generation, then arch + precision +
  // generation, arch + generation, arch + precision, arch alone, all); residuals of
  // `exclude_source` are left out (coverage checks).
  Interval interval(const CaseClass& k, const StepCost& predicted,
                    const std::string& exclude_source = "") const;
};

// The residuals of the model as it predicts (the clusters' default efficiencies), each out of
// sample: a fit source's from the leave-one-source-out refit without it (its defaults were set on
// it), another source's from the defaults (never fitted on it). `shipped`: validate_source of
// every source, in the order of loso.sources.
IntervalTable interval_table(const LosoReport& loso, const std::vector<SourceReport>& shipped);

struct Coverage {
  size_t cases = 0, covered = 0;
  double median_width = 0;  // (hi - lo) / predicted step time
  double fraction() const { return cases ? double(covered) / double(cases) : 0.0; }
};
// Each leave-one-source-out case against the interval built from the other sources' residuals.
Coverage coverage(const IntervalTable& t);
// The same per class the cases' intervals came from (Interval::level), in order of first use.
std::vector<std::pair<std::string, Coverage>> coverage_by_class(const IntervalTable& t);

// The table of the compiled-in corpus, computed once (a few hundred milliseconds) on first use.
const IntervalTable& corpus_interval_table();
// The interval for a prediction of (m, c, t) from the corpus's class of the prediction.
Interval prediction_interval(const Model& m, const Cluster& c, const Training& t,
                             const StepCost& predicted);

// The fewest of a user's leave-one-run-out residuals (`parplan fit --runs` writes them into the
// fitted cluster file as "own_residuals") that make an interval of their own.
constexpr size_t kOwnResidualsMin = 6;
// The 5-95% interval of those residuals (always holding the prediction), or, with fewer than
// kOwnResidualsMin, `corpus` with its basis saying why the user's runs were not used.
Interval own_interval(const std::vector<double>& residuals, const StepCost& predicted,
                      Interval corpus);

// Percentile q (0..1) of values, linear between order statistics.
double percentile(std::vector<double> values, double q);

}  // namespace parplan::cost
