#pragma once
// Calibrating on a few runs of one cluster and predicting its other runs: `parplan fit --runs`
// (the user's imported runs, leave-one-run-out) and the calibrate-then-predict table of
// `parplan validate` (every corpus source with enough rows: fit on 3 of its rows, predict the
// rest, rotating the 3). docs/calibration.md "Your own runs".
#include <string>
#include <vector>

#include "parplan/cost/corpus_fit.hpp"
#include "parplan/cost/intervals.hpp"

namespace parplan::cost {

// A user's few runs on their own cluster against the model's values: a MAP fit, each parameter's
// log held by a Gaussian prior at the cluster's value whose spread is how far that parameter
// moves between clusters (the corpus's sources), against the spread of one cluster's rows about
// their own level. docs/calibration.md "Calibrate then predict".
constexpr double kMeasuredSpread = 0.01;
struct OwnClusterPrior {
  // Robust log spread of a source's rows about their median (leave-one-source-out residuals,
  // pooled over the fit sources): what one row says of its cluster beyond the cluster's level.
  double row_sigma = 0.05;
  struct Spread {
    std::string generation, name;
    double log_sd = 0;    // between sources, in log (jackknife of the leave-one-source-out fits)
    size_t sources = 0;   // the fit sources with rows of its generation
  };
  std::vector<Spread> spreads;
  // A parameter the corpus gives no spread for (its generation in fewer than 2 sources, or a
  // spread under kMeasuredSpread: no source moved it): the same parameter's widest spread in the
  // other generations, else the widest spread found.
  double fallback_log_sd = 0.1;
  double log_sd(const FitParameter& p) const;
  // The weight of the parameter's prior term against rows weighted 1: row_sigma / log_sd.
  std::vector<double> weights(const std::vector<FitParameter>& ps) const;
};
// From the corpus's leave-one-source-out fits: a parameter's spread between sources is the
// jackknife's, each held-out source's implied own value ln p_s = ln p + (ln p - ln p_-s)(N - n_s)/n_s
// (N fit rows of the generation, n_s the source's), their rms; row_sigma, 1.4826 x the median
// |deviation| of each row's log residual from its source's median. `except`: a source left out
// of both (calibrate-then-predict of that source never sees its own spread).
OwnClusterPrior own_cluster_prior(const std::vector<CorpusSource>& corpus, const LosoReport& loso,
                                  const std::string& except = "");
// The corpus's (load_embedded_corpus), for `parplan fit --runs`.
OwnClusterPrior embedded_own_cluster_prior();

// The parameters that move the rows' step time (mean |d ln step / d ln parameter| at the rows'
// values, at least kMinSensitivity), most first.
constexpr double kMinSensitivity = 0.02;
std::vector<FitParameter> ranked_parameters(const std::vector<const CorpusRun*>& rows,
                                            const std::vector<FitParameter>& params);
// At most one parameter per kRowsPerParameter rows (at least one) is considered.
constexpr size_t kRowsPerParameter = 3;

struct Calibration {
  FitResult fit;  // on every row, the chosen parameters (none: the values unchanged)
  // Per candidate count m = 0, 1, ...: the rms log error of the rows, each predicted by the fit of
  // the m parameters on the others (m = 0: the rows at the values given).
  std::vector<double> inner;
};
// Calibrates a cluster on a few of its rows: the m most sensitive parameters (ranked_parameters)
// fitted by MAP (OwnClusterPrior), m chosen among 0 .. max(1, rows / kRowsPerParameter) by
// leave-one-out inside the rows themselves (each fitted on the others, predicted; m = 0: the rows
// as given), the smallest mean |log error| (ties: fewer). Nothing but `rows` decides.
Calibration calibrate(const std::vector<const CorpusRun*>& rows, const std::vector<FitParameter>& every,
                      const OwnClusterPrior& prior);

// Every way to choose k of n rows (index sets, lexicographic): the calibrate-then-predict
// "rotations", so no order of a source's rows favours one choice; beyond max_subsets, every
// stride-th of them (evenly spread, deterministic).
constexpr size_t kMaxFitSubsets = 2000;
std::vector<std::vector<size_t>> fit_subsets(size_t n, size_t k, size_t max_subsets = kMaxFitSubsets);

struct OwnRunsFit {
  Calibration calibration;            // on every row
  FitResult fit;                      // its fit
  Cluster fitted;                     // the base cluster with the fitted values of its generation
  std::vector<double> before, after;  // each row's step-time error (ratio - 1), in sample
  std::vector<double> left_out;       // each row predicted by the fit without it
  std::vector<double> left_out_log;   // ln(measured / predicted) of the same: the residuals
};
// Fits `base` to the rows (calibrate), each predicted on `base` sized to the run, and refits without
// each row in turn (the parameter count chosen again each time).
OwnRunsFit fit_own_runs(std::vector<CorpusRun> rows, const Cluster& base, const OwnClusterPrior& prior);

struct CalibratePredictSource {
  std::string source;
  size_t rows = 0, rotations = 0;  // rotations: the choices of rows fitted on
  double default_median = 0;  // median |error| of the rows at the start (the model without them)
  // Median |error| of the rows not fitted on, per rotation: its median, min and max.
  double median = 0, lo = 0, hi = 0;
  // The same rows before calibrating (the median over the rotations of their median |error|
  // at the start): what `median` is to be compared with.
  double start = 0;
  double fitted_share = 0;  // of the rotations, those whose rows chose to fit any parameter
  std::string parameter;    // the parameter they fitted most often ("": none)
  // Median |error| of each row predicted by the same calibration on every other row of the
  // source: what more rows of the same source would give.
  double all_but_one = 0;
};
// For every source with at least `min_rows` rows on one kind of GPU (a source that measured two
// counts as two, "source (GPU)"): for each choice of fit_rows rows (fit_subsets), fit the
// calibrate on them (the prior: own_cluster_prior without the source) and predict the others.
// With `loso`, a source it held out starts from the fit without it (as a cluster the corpus never
// saw); without, from the rows' clusters as given.
std::vector<CalibratePredictSource> calibrate_then_predict(const std::vector<CorpusSource>& corpus,
                                                           const LosoReport* loso = nullptr,
                                                           size_t min_rows = 6,
                                                           size_t fit_rows = 3);
std::string calibrate_then_predict_table(const std::vector<CalibratePredictSource>& t);

}  // namespace parplan::cost
