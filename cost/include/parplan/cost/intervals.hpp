#pragma once
// How sure a prediction is: an interval from the corpus's leave-one-source-out residuals of
// similar cases (same GPU generation, framework and dominant cost; coarser when too few).
#include <string>
#include <vector>

#include "parplan/cost/corpus_fit.hpp"

namespace parplan::cost {

// The largest share of the step: compute, tp (TP + CP communication), pp (bubble + sends),
// dp (exposed DP / ZeRO communication) or optimizer.
std::string dominant_cost(const StepCost& s);

struct Residual {
  std::string source, run, generation, framework, dominant;
  double log_ratio = 0;  // ln(measured / predicted) step time
};

struct Interval {
  double step_lo = 0, step_hi = 0;      // seconds
  double tflops_lo = 0, tflops_hi = 0;  // model TFLOP/s per GPU
  std::string basis;                    // which residuals: "hopper fsdp2 compute (12 cases)"
  size_t cases = 0;
};

struct IntervalTable {
  std::vector<Residual> residuals;
  // 5th and 95th percentiles of the class's residuals (each source weighing as much as any
  // other), from at least min_cases cases of min_sources sources.
  double lo_q = 0.05, hi_q = 0.95;
  size_t min_cases = 8;
  size_t min_sources = 3;
  bool contain_prediction = true;  // widen to hold the prediction itself
  bool per_source_weight = true;   // each source's cases share a weight of 1 (else 1 per case)

  // The interval for a prediction; residuals of `exclude_source` are left out (coverage checks).
  Interval interval(const std::string& generation, const std::string& framework,
                    const StepCost& predicted, const std::string& exclude_source = "") const;
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

// The table of the compiled-in corpus, computed once (a few hundred milliseconds) on first use.
const IntervalTable& corpus_interval_table();
// The interval for a prediction of (m, c, t).
Interval prediction_interval(const Cluster& c, const Training& t, const StepCost& predicted);

// Percentile q (0..1) of values, linear between order statistics.
double percentile(std::vector<double> values, double q);

}  // namespace parplan::cost
