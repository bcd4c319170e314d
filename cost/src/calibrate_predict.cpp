#include "parplan/cost/calibrate_predict.hpp"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdio>
#include <thread>

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
// fn(i) for i < n on the machine's cores (the cost model is thread-safe: the planner's search
// prices layouts on every core); each i writes only its own results, so the order is kept.
template <class Fn>
void parallel_for(size_t n, Fn fn) {
  const size_t threads = std::min<size_t>(n, std::max(1u, std::thread::hardware_concurrency()));
  if (threads <= 1) {
    for (size_t i = 0; i < n; ++i) fn(i);
    return;
  }
  std::atomic<size_t> next{0};
  std::vector<std::jthread> pool;
  for (size_t t = 0; t < threads; ++t)
    pool.emplace_back([&] {
      for (size_t i = next++; i < n; i = next++) fn(i);
    });
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

namespace {
bool same(const FitParameter& p, const std::string& generation, const std::string& name) {
  return p.generation == generation && name == p.name;
}
bool on(const FitParameter& p, const CorpusRun& r) {
  return p.generation == "*" || p.generation == r.generation();
}
double log_error(const CorpusRun& r, const Cluster& c) {
  return std::log(std::max(step_ratio(predict_unchecked(r.model, c, r.training, r.layout), r), 1e-9));
}
// Root mean square of log errors: what the fit minimises, and a row far off weighs as it would
// on the user's cluster (the mean |.| or the median let one heterogeneous row tip the choice:
// docs/calibration.md "Calibrate then predict").
double score(const std::vector<double>& v) {
  double s = 0;
  for (double x : v) s += x * x;
  return v.empty() ? 0.0 : std::sqrt(s / double(v.size()));
}
double rms_log(const std::vector<const CorpusRun*>& rows, const FitResult* f) {
  std::vector<double> v;
  for (const auto* r : rows) v.push_back(std::fabs(log_error(*r, f ? fitted_cluster(*r, *f) : r->cluster)));
  return score(v);
}
}  // namespace

double OwnClusterPrior::log_sd(const FitParameter& p) const {
  for (const auto& s : spreads)
    if (same(p, s.generation, s.name) && s.log_sd >= kMeasuredSpread) return s.log_sd;
  // Its generation not measured by two sources (Blackwell): the same parameter's widest spread in
  // the generations that are (the corpus fit ties Blackwell to Hopper the same way).
  double widest = 0;
  for (const auto& s : spreads)
    if (s.name == std::string(p.name) && s.log_sd >= kMeasuredSpread) widest = std::max(widest, s.log_sd);
  if (widest > 0) return widest;
  return fallback_log_sd;
}

std::vector<double> OwnClusterPrior::weights(const std::vector<FitParameter>& ps) const {
  std::vector<double> w;
  for (const auto& p : ps) w.push_back(row_sigma / log_sd(p));
  return w;
}

OwnClusterPrior own_cluster_prior(const std::vector<CorpusSource>& corpus, const LosoReport& loso,
                                  const std::string& except) {
  OwnClusterPrior out;
  // Rows about their source's median, pooled.
  std::vector<double> dev;
  for (const auto& s : loso.sources) {
    if (!s.fit_source || s.id == except || s.rows.size() < 2) continue;
    std::vector<double> l;
    for (const auto& r : s.rows) l.push_back(std::log(std::max(1 + r.error, 1e-9)));
    const double m = percentile(l, 0.5);
    for (double x : l) dev.push_back(std::fabs(x - m));
  }
  if (!dev.empty()) out.row_sigma = 1.4826 * percentile(dev, 0.5);
  // Each held-out source's implied value of each parameter (jackknife), their rms about the fit.
  auto rows_of = [&](const std::string& id, const FitParameter& p) {
    size_t n = 0;
    for (const auto& s : corpus)
      if (s.fit_source && (id.empty() || s.id == id))
        for (const auto& r : s.runs)
          if (r.fit && on(p, r)) ++n;
    return n;
  };
  const auto& full = loso.full;
  for (size_t k = 0; k < full.params.size(); ++k) {
    const auto& p = full.params[k];
    const size_t all = rows_of("", p);
    double sum = 0;
    size_t n = 0;
    for (size_t i = 0; i < loso.held_out.size() && i < loso.fits.size(); ++i) {
      if (loso.held_out[i] == except || loso.fits[i].values.size() != full.values.size()) continue;
      const size_t mine = rows_of(loso.held_out[i], p);
      if (mine == 0 || mine >= all) continue;
      const double d = std::log(full.values[k] / loso.fits[i].values[k]) * double(all - mine) / double(mine);
      sum += d * d;
      ++n;
    }
    if (n >= 2) out.spreads.push_back({p.generation, p.name, std::sqrt(sum / double(n)), n});
  }
  for (const auto& s : out.spreads) out.fallback_log_sd = std::max(out.fallback_log_sd, s.log_sd);
  return out;
}

OwnClusterPrior embedded_own_cluster_prior() {
  const auto corpus = load_embedded_corpus();
  return own_cluster_prior(corpus, leave_one_source_out(corpus));
}

std::vector<FitParameter> ranked_parameters(const std::vector<const CorpusRun*>& rows,
                                            const std::vector<FitParameter>& params) {
  // Sensitivity: d ln(step) / d ln(parameter) at the rows' values, mean |.| over the rows.
  std::vector<std::pair<double, size_t>> by;
  for (size_t k = 0; k < params.size() && !rows.empty(); ++k) {
    double sum = 0;
    for (const auto* r : rows) {
      if (!on(params[k], *r)) continue;
      Cluster c = r->cluster;
      const double t0 = predict_unchecked(r->model, c, r->training, r->layout).step_time_s;
      double& v = params[k].field(c);
      v *= params[k].fraction && v * 1.05 > 1 ? 1 / 1.05 : 1.05;
      const double t1 = predict_unchecked(r->model, c, r->training, r->layout).step_time_s;
      if (t0 > 0 && t1 > 0) sum += std::fabs(std::log(t1 / t0)) / std::log(1.05);
    }
    if (sum / double(rows.size()) >= kMinSensitivity) by.push_back({sum / double(rows.size()), k});
  }
  std::stable_sort(by.begin(), by.end(), [](const auto& a, const auto& b) { return a.first > b.first; });
  std::vector<FitParameter> out;
  for (const auto& b : by) out.push_back(params[b.second]);
  return out;
}

Calibration calibrate(const std::vector<const CorpusRun*>& rows, const std::vector<FitParameter>& every,
                      const OwnClusterPrior& prior) {
  Calibration out;
  const auto ranked = ranked_parameters(rows, every);
  const size_t most = std::min(ranked.size(), std::max<size_t>(1, rows.size() / kRowsPerParameter));
  auto first = [&](size_t m) { return std::vector<FitParameter>(ranked.begin(), ranked.begin() + long(m)); };
  out.inner.push_back(rms_log(rows, nullptr));
  size_t best = 0;
  if (rows.size() < 2) {
    best = most;  // nothing to hold out: the prior alone limits the step
  } else {
    for (size_t m = 1; m <= most; ++m) {
      const auto ps = first(m);
      const auto w = prior.weights(ps);
      std::vector<double> v;
      for (size_t i = 0; i < rows.size(); ++i) {
        std::vector<const CorpusRun*> others;
        for (size_t j = 0; j < rows.size(); ++j)
          if (j != i) others.push_back(rows[j]);
        const FitResult f = fit_efficiencies(others, ps, w);
        v.push_back(std::fabs(log_error(*rows[i], fitted_cluster(*rows[i], f))));
      }
      out.inner.push_back(score(v));
      if (out.inner.back() < out.inner[best]) best = m;
    }
  }
  const auto ps = first(best);
  out.fit = fit_efficiencies(rows, ps, prior.weights(ps));
  return out;
}

OwnRunsFit fit_own_runs(std::vector<CorpusRun> rows, const Cluster& base, const OwnClusterPrior& prior) {
  for (auto& r : rows) {  // every row on the cluster being fitted, sized to the run
    const int64_t nodes = r.cluster.nodes;
    r.cluster = base;
    r.cluster.nodes = std::max(base.nodes, nodes);
  }
  OwnRunsFit out;
  const auto all = pointers(rows, rows.size());
  const auto every = fit_parameters(all);
  out.calibration = calibrate(all, every, prior);
  out.fit = out.calibration.fit;
  CorpusRun probe;
  probe.cluster = base;
  out.fitted = fitted_cluster(probe, out.fit);
  for (size_t i = 0; i < rows.size(); ++i) {
    out.before.push_back(error_of(rows[i], rows[i].cluster));
    out.after.push_back(error_of(rows[i], fitted_cluster(rows[i], out.fit)));
    // The whole calibration without the row, its parameter count chosen again.
    const FitResult without = calibrate(pointers(rows, i), every, prior).fit;
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
    OwnClusterPrior prior;
    if (loso) prior = own_cluster_prior(corpus, *loso, given.id);
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
      const auto subsets = fit_subsets(n, fit_rows);
      std::vector<double> medians(subsets.size()), starts(subsets.size());
      std::vector<std::vector<std::string>> chosen(subsets.size());
      parallel_for(subsets.size(), [&](size_t q) {
        std::vector<const CorpusRun*> fit;
        std::vector<bool> used(n, false);
        for (const size_t k : subsets[q]) fit.push_back(all[k]), used[k] = true;
        const FitResult f = calibrate(fit, every, prior).fit;
        for (const auto& p : f.params) chosen[q].push_back(p.name);
        std::vector<double> errs, start;
        for (size_t j = 0; j < n; ++j)
          if (!used[j]) {
            errs.push_back(error_of(*all[j], fitted_cluster(*all[j], f)));
            start.push_back(defaults[j]);
          }
        medians[q] = median_abs(errs);
        starts[q] = median_abs(start);
      });
      size_t fitted = 0;
      std::vector<std::pair<std::string, size_t>> names;  // the parameters fitted, how often
      for (const auto& ps : chosen) {
        if (!ps.empty()) ++fitted;
        for (const auto& p : ps) {
          auto it = std::find_if(names.begin(), names.end(), [&](const auto& e) { return e.first == p; });
          if (it == names.end()) names.push_back({p, 1});
          else ++it->second;
        }
      }
      // The same calibration with every other row of the source: is the miss the 3 rows' or the
      // model's?
      std::vector<double> left_out(n);
      parallel_for(n, [&](size_t j) {
        std::vector<const CorpusRun*> others;
        for (size_t q = 0; q < n; ++q)
          if (q != j) others.push_back(all[q]);
        const FitResult f = calibrate(others, every, prior).fit;
        left_out[j] = error_of(*all[j], fitted_cluster(*all[j], f));
      });
      c.all_but_one = median_abs(left_out);
      c.rotations = medians.size();
      c.median = percentile(medians, 0.5);
      c.start = percentile(starts, 0.5);
      c.fitted_share = double(fitted) / double(medians.size());
      std::stable_sort(names.begin(), names.end(), [](const auto& a, const auto& b) { return a.second > b.second; });
      if (!names.empty()) c.parameter = names[0].first;
      c.lo = *std::min_element(medians.begin(), medians.end());
      c.hi = *std::max_element(medians.begin(), medians.end());
      out.push_back(c);
    }
  }
  return out;
}

std::string calibrate_then_predict_table(const std::vector<CalibratePredictSource>& t) {
  std::string s =
      "Calibrate then predict: per source (and GPU) with >= 6 rows, every choice of 3 of its rows "
      "('fits') calibrated on (MAP: each parameter's prior as wide as it varies between the "
      "corpus's sources; 0, 1, ... of the parameters the rows move most, chosen by leave-one-out "
      "inside the 3 rows), the other rows predicted; the start is the model without the source "
      "(its leave-one-source-out fit; 'unseen': its median |error| there). 'start': the median "
      "over the fits of the predicted rows' median |error| before calibrating, 'median' after, "
      "with its spread (min-max); 'fitted': the share of fits whose rows chose to move a "
      "parameter, 'most': the one fitted most often; 'n-1 rows': each row predicted by the same "
      "calibration on every other row\n";
  char buf[256];
  std::snprintf(buf, sizeof buf, "%-36s %5s %6s %8s %8s %8s %17s %7s %-16s %9s\n", "source", "rows",
                "fits", "unseen", "start", "median", "spread (min-max)", "fitted", " most", "n-1 rows");
  s += buf;
  for (const auto& c : t) {
    std::snprintf(buf, sizeof buf, "%-36s %5zu %6zu %7.1f%% %7.1f%% %7.1f%% %8.1f-%5.1f%% %6.0f%%  %-16s %8.1f%%\n",
                  c.source.c_str(), c.rows, c.rotations, 100 * c.default_median, 100 * c.start,
                  100 * c.median, 100 * c.lo, 100 * c.hi, 100 * c.fitted_share,
                  c.parameter.empty() ? "-" : c.parameter.c_str(), 100 * c.all_but_one);
    s += buf;
  }
  return s;
}

}  // namespace parplan::cost
