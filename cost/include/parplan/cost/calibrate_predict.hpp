#pragma once
// Calibrating on a few runs of one cluster and predicting its other runs: `parplan fit --runs`
// (the user's imported runs, leave-one-run-out) and the calibrate-then-predict table of
// `parplan validate` (every corpus source with enough rows: fit on 3 of its rows, predict the
// rest, rotating the 3). docs/calibration.md "Your own runs".
#include <string>
#include <vector>

#include "parplan/cost/intervals.hpp"

namespace parplan::cost {

// A user's few runs on their own cluster against the cited defaults: the prior's weight on each
// parameter's log (corpus_fit: 1 for the corpus). docs/calibration.md "Calibrate then predict".
constexpr double kOwnClusterPrior = 0.3;
// With few runs, only the parameters they inform are fitted: one per kRowsPerParameter runs (at
// least one), those that move the runs' step time most (mean |d ln step / d ln parameter|), and
// none below kMinSensitivity; the others stay at the cluster's values.
constexpr size_t kRowsPerParameter = 3;
constexpr double kMinSensitivity = 0.02;
std::vector<FitParameter> informed_parameters(const std::vector<const CorpusRun*>& rows,
                                              std::vector<FitParameter> params);

struct OwnRunsFit {
  FitResult fit;                      // on every row
  Cluster fitted;                     // the base cluster with the fitted values of its generation
  std::vector<double> before, after;  // each row's step-time error (ratio - 1), in sample
  std::vector<double> left_out;       // each row predicted by the fit without it
  std::vector<double> left_out_log;   // ln(measured / predicted) of the same: the residuals
};
// Fits the efficiencies of `base` (its generation's parameters, fit_parameters) to the rows, each
// predicted on `base` sized to the run, and refits without each row in turn.
OwnRunsFit fit_own_runs(std::vector<CorpusRun> rows, const Cluster& base);

struct CalibratePredictSource {
  std::string source;
  size_t rows = 0, rotations = 0;
  double default_median = 0;  // median |error| of the rows at the default efficiencies
  // Median |error| of the rows not fitted on, per rotation: its median, min and max.
  double median = 0, lo = 0, hi = 0;
};
// For every source with at least `min_rows` rows on one kind of GPU (a source that measured two
// counts as two, "source (GPU)"): for each rotation i (rows i, i+1, i+2 mod n), fit the
// parameters those 3 rows inform (informed_parameters, kOwnClusterPrior) and predict the others.
std::vector<CalibratePredictSource> calibrate_then_predict(const std::vector<CorpusSource>& corpus,
                                                           size_t min_rows = 6,
                                                           size_t fit_rows = 3);
std::string calibrate_then_predict_table(const std::vector<CalibratePredictSource>& t);

}  // namespace parplan::cost
