#pragma once
// Fitting the calibrated efficiencies (cluster.hpp Efficiency) to the corpus's fit-sources by
// Levenberg-Marquardt on log step-time errors, and leave-one-source-out cross-validation.
#include <string>
#include <vector>

#include "parplan/cost/corpus.hpp"

namespace parplan::cost {

// One fitted number: a cluster field (an Efficiency, or a GPU floor: floors.hpp) for one GPU
// generation ("*": every generation).
struct FitParameter {
  std::string generation;
  const char* name;
  double& (*field)(Cluster&);  // the field in a run's cluster (a floor's default filled in)
  bool fraction;  // bounded by 1
  double initial = 0;  // the default: the value the first row of its generation has
  double max = 0;      // upper bound when not a fraction (0: kMaxHalfDim)
  double unit = 1;     // reports show the value / unit (1e-6: microseconds)
  // Priced behind a max (host time against device time): flat, so no gradient, until it binds.
  // The fit starts it from the best of a grid (1x to 32x its initial value) before its steps.
  bool grid = false;
};
// matmul_max, matmul_half_dim, memory_bound, intra_node_link, inter_node_link,
// kernel_launch_us and kernel_device_us per generation present in `rows`, and overlap_slowdown
// shared.
std::vector<FitParameter> fit_parameters(const std::vector<const CorpusRun*>& rows);
// The same parameters with their cited priors as the initial values (prior_efficiency, the
// floors' generation values), not the shipped defaults: the corpus fit and leave-one-source-out
// start from these, so a held-out source never shaped the values it is predicted with.
std::vector<FitParameter> corpus_fit_parameters(const std::vector<const CorpusRun*>& rows);

struct FitResult {
  std::vector<FitParameter> params;
  std::vector<double> initial, values;  // initial: the clusters' defaults
  size_t rows = 0;
  int iterations = 0;
  double rms_log_before = 0, rms_log_after = 0;  // of ln(predicted / measured) step time
};

// Least squares on w_i ln(predicted_i / measured_i) (Huber weights, 0.15) plus a weak prior
// pulling each parameter towards its default (weight kPrior on its log), so a parameter the rows
// do not constrain stays where it was. Parameters are fitted in log space (positive), fractions
// capped at 1.
// `prior`: the prior's weight when not the corpus's (< 0): a user's few runs of their own
// cluster (calibrate_predict.hpp) weigh more against the defaults.
FitResult fit_efficiencies(const std::vector<const CorpusRun*>& rows,
                           std::vector<FitParameter> params, double prior = -1);
// The same with a prior weight per parameter (calibrate_predict.hpp OwnClusterPrior: a user's
// own cluster, each parameter held as firmly as the corpus says it varies between clusters).
FitResult fit_efficiencies(const std::vector<const CorpusRun*>& rows,
                           std::vector<FitParameter> params, const std::vector<double>& prior);
// The run's cluster with the fitted values of its generation.
Cluster fitted_cluster(const CorpusRun& r, const FitResult& f);

struct LosoReport {
  FitResult full;                    // fitted on every fit row of every fit source
  std::vector<std::string> held_out;  // fit sources, in order of `fits`
  std::vector<FitResult> fits;        // fitted without held_out[i]
  std::vector<SourceReport> sources;  // every source, predicted out of sample
};
// Fit sources: refit without the source, predict it. Other sources: predicted with `full`
// (they were never fitted on).
LosoReport leave_one_source_out(const std::vector<CorpusSource>& corpus);

}  // namespace parplan::cost
