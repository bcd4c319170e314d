#include "parplan/cost/calibrate_predict.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>

#include "parplan/cost/intervals.hpp"

namespace parplan::cost {

namespace {
double error_of(const CorpusRun& r, const Cluster& c) {
  return step_ratio(predict(r.model, c, r.training, r.layout), r) - 1;
}
std::vector<const CorpusRun*> pointers(const std::vector<CorpusRun>& rows, size_t except) {
  std::vector<const CorpusRun*> out;
  for (size_t i = 0; i < rows.size(); ++i)
    if (i != except) out.push_back(&rows[i]);
  return out;
}
double median_abs(std::vector<double> v) {
  for (auto& x : v) x = std::fabs(x);
  return percentile(v, 0.5);
}
}  // namespace

std::vector<std::vector<size_t>> fit_subsets(size_t n, size_t k, size_t max_subsets) {
  std::vector<std::vector<size_t>> out;
  if (k == 0 || k > n) return out;
  double count = 1;  // n choose k
  for (size_t j = 0; j < k; ++j) count = count * double(n - j) / double(j + 1);
  const size_t stride = max_subsets && count > double(max_subsets)
                            ? size_t(std::ceil(count / double(max_subsets))) : 1;
  std::vector<size_t> idx(k);
  for (size_t j = 0; j < k; ++j) idx[j] = j;
  for (size_t seen = 0;; ++seen) {  // every k-subset in lexicographic order, every stride-th kept
    if (seen % stride == 0) out.push_back(idx);
    size_t j = k;
    while (j > 0 && idx[j - 1] == n - k + j - 1) --j;
    if (j == 0) break;
    ++idx[j - 1];
    for (size_t m = j; m < k; ++m) idx[m] = idx[m - 1] + 1;
  }
  return out;
}

std::vector<FitParameter> informed_parameters(const std::vector<const CorpusRun*>& rows,
                                              std::vector<FitParameter> params) {
  const size_t keep = std::max<size_t>(1, std::min(params.size(), rows.size() / kRowsPerParameter));
  if (rows.empty() || keep >= params.size()) return params;
  // Sensitivity: d ln(step) / d ln(parameter) at the defaults, mean |.| over the rows.
  std::vector<std::pair<double, size_t>> by;
  for (size_t k = 0; k < params.size(); ++k) {
    double sum = 0;
    for (const auto* r : rows) {
      if (params[k].generation != "*" && params[k].generation != r->generation()) continue;
      Cluster c = r->cluster;
      const double t0 = predict_unchecked(r->model, c, r->training, r->layout).step_time_s;
      double& v = params[k].field(c);
      v *= params[k].fraction && v * 1.05 > 1 ? 1 / 1.05 : 1.05;
      const double t1 = predict_unchecked(r->model, c, r->training, r->layout).step_time_s;
      if (t0 > 0 && t1 > 0) sum += std::fabs(std::log(t1 / t0)) / std::log(1.05);
    }
    by.push_back({sum / double(rows.size()), k});
  }
  std::stable_sort(by.begin(), by.end(), [](const auto& a, const auto& b) { return a.first > b.first; });
  std::vector<FitParameter> out;
  for (size_t i = 0; i < keep; ++i)
    if (by[i].first >= kMinSensitivity || out.empty()) out.push_back(params[by[i].second]);
  return out;
}

OwnRunsFit fit_own_runs(std::vector<CorpusRun> rows, const Cluster& base) {
  for (auto& r : rows) {  // every row on the cluster being fitted, sized to the run
    const int64_t nodes = r.cluster.nodes;
    r.cluster = base;
    r.cluster.nodes = std::max(base.nodes, nodes);
  }
  OwnRunsFit out;
  const auto all = pointers(rows, rows.size());
  // The parameters the runs inform, with the prior of a user's own cluster; the same set for
  // every leave-one-run-out refit.
  const auto params = informed_parameters(all, fit_parameters(all));
  out.fit = fit_efficiencies(all, params, kOwnClusterPrior);
  CorpusRun probe;
  probe.cluster = base;
  out.fitted = fitted_cluster(probe, out.fit);
  for (size_t i = 0; i < rows.size(); ++i) {
    out.before.push_back(error_of(rows[i], rows[i].cluster));
    out.after.push_back(error_of(rows[i], fitted_cluster(rows[i], out.fit)));
    const FitResult without = fit_efficiencies(pointers(rows, i), params, kOwnClusterPrior);
    const double e = error_of(rows[i], fitted_cluster(rows[i], without));
    out.left_out.push_back(e);
    out.left_out_log.push_back(-std::log(std::max(e + 1, 1e-9)));
  }
  return out;
}

std::vector<CalibratePredictSource> calibrate_then_predict(const std::vector<CorpusSource>& corpus,
                                                           const LosoReport* loso, size_t min_rows,
                                                           size_t fit_rows) {
  std::vector<CalibratePredictSource> out;
  for (const auto& given : corpus) {
    // The source as a cluster the model has not seen: a fit source's rows start from the
    // leave-one-source-out fit without it (its held-out rows never shaped the starting values).
    CorpusSource s = given;
    if (loso)
      for (size_t k = 0; k < loso->held_out.size() && k < loso->fits.size(); ++k)
        if (loso->held_out[k] == s.id)
          for (auto& r : s.runs) r.cluster = fitted_cluster(r, loso->fits[k]);
    // One cluster at a time, as a user calibrates their own: a source that measured two kinds of
    // GPU (A100 and H100, or GB200 and GB300 racks) is two units; fitting on one says nothing of
    // the other's parameters.
    std::vector<std::string> gpus;
    for (const auto& r : s.runs)
      if (std::find(gpus.begin(), gpus.end(), r.cluster.gpu.name) == gpus.end()) gpus.push_back(r.cluster.gpu.name);
    for (const auto& gpu : gpus) {
      std::vector<const CorpusRun*> all;
      for (const auto& r : s.runs)
        if (r.cluster.gpu.name == gpu) all.push_back(&r);
      const size_t n = all.size();
      if (n < min_rows || n <= fit_rows) continue;
      CalibratePredictSource c;
      c.source = gpus.size() > 1 ? s.id + " (" + gpu + ")" : s.id;
      c.rows = n;
      std::vector<double> defaults;
      for (const auto* r : all) defaults.push_back(error_of(*r, r->cluster));
      c.default_median = median_abs(defaults);
      const auto every = fit_parameters(all);
      std::vector<double> medians;
      for (const auto& subset : fit_subsets(n, fit_rows)) {
        std::vector<const CorpusRun*> fit;
        std::vector<bool> used(n, false);
        for (const size_t k : subset) fit.push_back(all[k]), used[k] = true;
        const FitResult f = fit_efficiencies(fit, informed_parameters(fit, every), kOwnClusterPrior);
        std::vector<double> errs;
        for (size_t j = 0; j < n; ++j)
          if (!used[j]) errs.push_back(error_of(*all[j], fitted_cluster(*all[j], f)));
        medians.push_back(median_abs(errs));
      }
      // The same calibration with every other row of the source (one parameter per 3 rows): is
      // the miss the 3 rows' or the model's?
      const auto informed = informed_parameters(all, every);
      std::vector<double> left_out;
      for (size_t j = 0; j < n; ++j) {
        std::vector<const CorpusRun*> others;
        for (size_t q = 0; q < n; ++q)
          if (q != j) others.push_back(all[q]);
        const FitResult f = fit_efficiencies(others, informed, kOwnClusterPrior);
        left_out.push_back(error_of(*all[j], fitted_cluster(*all[j], f)));
      }
      c.all_but_one = median_abs(left_out);
      c.rotations = medians.size();
      c.median = percentile(medians, 0.5);
      c.lo = *std::min_element(medians.begin(), medians.end());
      c.hi = *std::max_element(medians.begin(), medians.end());
      out.push_back(c);
    }
  }
  return out;
}

std::string calibrate_then_predict_table(const std::vector<CalibratePredictSource>& t) {
  std::string s =
      "Calibrate then predict: per source (and GPU) with >= 6 rows, the parameters its rows inform "
      "fitted on 3 of them (every choice of 3 rows: 'fits'; a user's own-cluster prior), the other "
      "rows predicted; the median over the fits of their median |error| of step time, and its "
      "spread (min-max); the start is the model without the source (its leave-one-source-out "
      "fit; 'unseen': its median |error| there); 'n-1 rows': each row predicted by the same "
      "calibration on every other row of the source (one parameter per 3 rows)\n";
  char buf[256];
  std::snprintf(buf, sizeof buf, "%-36s %5s %9s %10s %10s %17s %9s\n", "source", "rows", "fits",
                "unseen", "median", "spread (min-max)", "n-1 rows");
  s += buf;
  for (const auto& c : t) {
    std::snprintf(buf, sizeof buf, "%-36s %5zu %9zu %9.1f%% %9.1f%% %8.1f-%5.1f%% %8.1f%%\n",
                  c.source.c_str(), c.rows, c.rotations, 100 * c.default_median, 100 * c.median,
                  100 * c.lo, 100 * c.hi, 100 * c.all_but_one);
    s += buf;
  }
  return s;
}

}  // namespace parplan::cost
