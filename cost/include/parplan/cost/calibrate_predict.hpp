#pragma once
// Calibrating on a few runs of one cluster and predicting its other runs: `parplan fit --runs`
// (the user's imported runs, leave-one-run-out) and the calibrate-then-predict table of
// `parplan validate` (every corpus source with enough rows: fit on 3 of its rows, predict the
// rest, rotating the 3). docs/calibration.md "Your own runs".
#include <string>
#include <vector>

#include "parplan/cost/intervals.hpp"

namespace parplan::cost {

// A user's few runs on their own cluster against the model's values: the prior's weight on each
// parameter's log (corpus_fit: 1 for the corpus), the ratio of the corpus's robust spread of rows
// within a source (0.05 in log) to that between sources (0.14, leave-one-source-out):
// docs/calibration.md "Calibrate then predict".
constexpr double kOwnClusterPrior = 0.4;
// With few runs, only the parameters they inform are fitted: one per kRowsPerParameter runs (at
// least one), those that move the runs' step time most (mean |d ln step / d ln parameter|), and
// none below kMinSensitivity; the others stay at the cluster's values.
constexpr size_t kRowsPerParameter = 3;
constexpr double kMinSensitivity = 0.02;
std::vector<FitParameter> informed_parameters(const std::vector<const CorpusRun*>& rows,
                                              std::vector<FitParameter> params);

// Every way to choose k of n rows (index sets, lexicographic): the calibrate-then-predict
// "rotations", so no order of a source's rows favours one choice; beyond max_subsets, every
// stride-th of them (evenly spread, deterministic).
constexpr size_t kMaxFitSubsets = 2000;
std::vector<std::vector<size_t>> fit_subsets(size_t n, size_t k, size_t max_subsets = kMaxFitSubsets);

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
  size_t rows = 0, rotations = 0;  // rotations: the choices of rows fitted on
  double default_median = 0;  // median |error| of the rows at the start (the model without them)
  // Median |error| of the rows not fitted on, per rotation: its median, min and max.
  double median = 0, lo = 0, hi = 0;
  // Median |error| of each row predicted by the same calibration on every other row of the
  // source (informed_parameters of n - 1 rows): what more rows of the same source would give.
  double all_but_one = 0;
};
// For every source with at least `min_rows` rows on one kind of GPU (a source that measured two
// counts as two, "source (GPU)"): for each choice of fit_rows rows (fit_subsets), fit the
// parameters they inform (informed_parameters, kOwnClusterPrior) and predict the others.
// With `loso`, a source it held out starts from the fit without it (as a cluster the corpus never
// saw); without, from the rows' clusters as given.
std::vector<CalibratePredictSource> calibrate_then_predict(const std::vector<CorpusSource>& corpus,
                                                           const LosoReport* loso = nullptr,
                                                           size_t min_rows = 6,
                                                           size_t fit_rows = 3);
std::string calibrate_then_predict_table(const std::vector<CalibratePredictSource>& t);

}  // namespace parplan::cost
