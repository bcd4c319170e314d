#include "parplan/cost/intervals.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <map>
#include <mutex>
#include <set>

namespace parplan::cost {

std::string dominant_cost(const StepCost& s) {
  const TimeBreakdown& t = s.time;
  const std::pair<const char*, double> parts[] = {
      {"compute", t.compute},
      {"tp", t.tp_comm + t.cp_comm},
      {"pp", t.pp_bubble + t.pp_comm},
      {"dp", t.dp_comm_exposed},
      {"optimizer", t.optimizer}};
  const auto* best = &parts[0];
  for (const auto& p : parts)
    if (p.second > best->second) best = &p;
  return best->first;
}

double percentile(std::vector<double> v, double q) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const double pos = q * double(v.size() - 1);
  const size_t i = size_t(pos);
  const double f = pos - double(i);
  return i + 1 < v.size() ? v[i] * (1 - f) + v[i + 1] * f : v.back();
}

// Percentile of values weighted by `w` (weights need not sum to 1): the value where the
// cumulative weight, taken at the middle of each value's share, reaches q.
double weighted_percentile(std::vector<std::pair<double, double>> vw, double q) {
  if (vw.empty()) return 0;
  std::sort(vw.begin(), vw.end());
  double total = 0;
  for (const auto& p : vw) total += p.second;
  std::vector<double> mid(vw.size());
  double acc = 0;
  for (size_t i = 0; i < vw.size(); ++i) {
    mid[i] = (acc + 0.5 * vw[i].second) / total;
    acc += vw[i].second;
  }
  if (q <= mid.front()) return vw.front().first;
  for (size_t i = 1; i < vw.size(); ++i)
    if (q <= mid[i]) {
      const double f = (q - mid[i - 1]) / (mid[i] - mid[i - 1]);
      return vw[i - 1].first * (1 - f) + vw[i].first * f;
    }
  return vw.back().first;
}

double t_quantile(double p, double df) {
  if (!(df > 0) || !(p > 0 && p < 1)) return std::nan("");
  if (p < 0.5) return -t_quantile(1 - p, df);
  const double c = std::exp(std::lgamma(0.5 * (df + 1)) - std::lgamma(0.5 * df)) / std::sqrt(df * M_PI);
  const auto density = [&](double u) { return c * std::pow(1 + u * u / df, -0.5 * (df + 1)); };
  const auto cdf = [&](double x) {  // 0.5 + integral of the density over [0, x], Simpson's rule
    const int n = 2000;
    const double h = x / n;
    double sum = density(0) + density(x);
    for (int i = 1; i < n; ++i) sum += density(i * h) * (i % 2 ? 4 : 2);
    return 0.5 + sum * h / 3;
  };
  double lo = 0, hi = 1;
  while (cdf(hi) < p && hi < 1e6) lo = hi, hi *= 2;
  for (int i = 0; i < 60; ++i) {
    const double mid = 0.5 * (lo + hi);
    (cdf(mid) < p ? lo : hi) = mid;
  }
  return 0.5 * (lo + hi);
}

namespace {
// One-way random effects of residuals grouped by source (moment estimates): the mean of the
// sources' means (each source weighing the same), the within-source variance s^2 (pooled over
// the sources' own means) and the between-source variance tau^2 (the variance of the sources'
// means less what the within-source spread alone puts there).
struct RandomEffects {
  double location = 0, tau2 = 0, s2 = 0;
  size_t sources = 0;
};
RandomEffects random_effects(const std::vector<const Residual*>& v) {
  std::map<std::string, std::vector<double>> by;
  for (const auto* r : v) by[r->source].push_back(r->log_ratio);
  RandomEffects e;
  e.sources = by.size();
  if (by.empty()) return e;
  std::vector<double> means;
  double ssw = 0, dfw = 0;
  for (const auto& [src, ys] : by) {
    double m = 0;
    for (const double y : ys) m += y;
    m /= double(ys.size());
    means.push_back(m);
    for (const double y : ys) ssw += (y - m) * (y - m);
    dfw += double(ys.size() - 1);
  }
  for (const double m : means) e.location += m;
  e.location /= double(means.size());
  e.s2 = dfw > 0 ? ssw / dfw : 0;
  if (means.size() > 1) {
    double ssb = 0;
    for (const double m : means) ssb += (m - e.location) * (m - e.location);
    const double n_mean = double(v.size()) / double(means.size());
    e.tau2 = std::max(0.0, ssb / double(means.size() - 1) - e.s2 / n_mean);
  }
  return e;
}
}  // namespace

CaseClass case_class(const Model& m, const Cluster& c, const Training& t, const StepCost& s) {
  CaseClass k;
  k.arch = !m.is_moe() ? "dense"
           : m.moe.expert_ffn_hidden > 0 && m.moe.expert_ffn_hidden < m.hidden ? "moe-fine"
                                                                              : "moe";
  k.precision = t.fp8() ? "fp8" : "16-bit";
  k.bound = s.step_time_s > 0 && s.time.compute >= 0.5 * s.step_time_s ? "compute" : "overhead";
  k.framework = t.framework_name();
  CorpusRun probe;
  probe.cluster = c;
  k.generation = probe.generation();
  k.context = t.seq_len >= kLongContextTokens ? "long-context" : "short-context";
  return k;
}

IntervalTable interval_table(const LosoReport& loso, const std::vector<SourceReport>& shipped) {
  IntervalTable t;
  for (size_t i = 0; i < loso.sources.size(); ++i) {
    const SourceReport& s =
        loso.sources[i].fit_source || i >= shipped.size() ? loso.sources[i] : shipped[i];
    for (const auto& row : s.rows) {
      const double ratio = step_ratio(row.predicted, *row.run);
      if (!(ratio > 0) || !std::isfinite(ratio)) continue;
      const CorpusRun& r = *row.run;
      t.residuals.push_back({r.source, r.id, case_class(r.model, r.cluster, r.training, row.predicted),
                             -std::log(ratio)});
    }
  }
  return t;
}

namespace {
std::string level_name(const CaseClass& k, unsigned lv) {
  std::string s;
  auto add = [&](unsigned bit, const std::string& v) {
    if (lv & bit) s += (s.empty() ? "" : " ") + v;
  };
  add(IntervalTable::kArch, k.arch);
  add(IntervalTable::kPrecision, k.precision);
  add(IntervalTable::kBound, k.bound + "-bound");
  add(IntervalTable::kFramework, k.framework);
  add(IntervalTable::kGeneration, k.generation);
  add(IntervalTable::kContext, k.context);
  return s.empty() ? "all" : s;
}
bool same(const CaseClass& a, const CaseClass& b, unsigned lv) {
  return (!(lv & IntervalTable::kArch) || a.arch == b.arch) &&
         (!(lv & IntervalTable::kPrecision) || a.precision == b.precision) &&
         (!(lv & IntervalTable::kBound) || a.bound == b.bound) &&
         (!(lv & IntervalTable::kFramework) || a.framework == b.framework) &&
         (!(lv & IntervalTable::kGeneration) || a.generation == b.generation) &&
         (!(lv & IntervalTable::kContext) || a.context == b.context);
}
}  // namespace

Interval IntervalTable::interval(const CaseClass& k, const StepCost& p, const std::string& exclude,
                                 const std::string& exclude_also) const {
  std::vector<const Residual*> v;
  Interval out;
  const auto left_out = [&](const Residual& r) {
    return r.source == exclude || (!exclude_also.empty() && r.source == exclude_also);
  };
  for (const unsigned lv : levels) {
    v.clear();
    for (const auto& r : residuals)
      if (!left_out(r) && same(r.cls, k, lv)) v.push_back(&r);
    std::set<std::string> sources;
    for (const auto* r : v) sources.insert(r->source);
    if (v.size() >= min_cases && sources.size() >= (lv & kFramework ? min_sources_framework : min_sources)) {
      out.level = level_name(k, lv);
      out.basis = out.level + " (" + std::to_string(v.size()) + " cases, " +
                  std::to_string(sources.size()) + " sources)";
      break;
    }
  }
  if (out.basis.empty() && !v.empty()) {  // every level too thin: the last one's cases, said so
    out.level = level_name(k, levels.empty() ? 0 : levels.back());
    out.basis = out.level + " (" + std::to_string(v.size()) + " cases, fewer sources than wanted)";
  }
  out.cases = v.size();
  if (v.empty()) {
    out.step_lo = out.step_hi = p.step_time_s;
    out.tflops_lo = out.tflops_hi = p.model_tflops_per_gpu;
    out.basis = "no corpus cases";
    out.level = "none";
    return out;
  }
  double lo = 0, hi = 0;
  if (method == Method::RandomEffects) {
    // A prediction interval for a case of a new source: the class's location, its between-source
    // variance shrunk toward the corpus's (prior_sources sources' weight), t for the sources.
    std::vector<const Residual*> corpus;
    for (const auto& r : residuals)
      if (!left_out(r)) corpus.push_back(&r);
    const RandomEffects e = random_effects(v), all = random_effects(corpus);
    const double S = double(e.sources);
    const double tau2 = (S * e.tau2 + prior_sources * all.tau2) / (S + prior_sources);
    const double df = S - 1 + prior_sources;
    const double sd = std::sqrt(tau2 * (1 + 1 / S) + e.s2);
    thread_local std::map<std::pair<double, double>, double> quantiles;  // (p, df): a few
    const double q = 0.5 + 0.5 * level;
    auto it = quantiles.find({q, df});
    if (it == quantiles.end()) it = quantiles.emplace(std::make_pair(q, df), df > 0 ? t_quantile(q, df) : 0).first;
    const double t = it->second;
    lo = e.location - t * sd, hi = e.location + t * sd;
    char buf[200];
    std::snprintf(buf, sizeof buf,
                  "; %.0f%% for a new source: location %+.1f%%, between sources %.1f%%, within %.1f%%, t(%.0f) %.2f",
                  100 * level, 100 * (std::exp(e.location) - 1), 100 * std::sqrt(tau2),
                  100 * std::sqrt(e.s2), df, t);
    out.basis += buf;
  } else {
    // Each source counts once: a new case's error is mostly its source's (setup, software), so
    // the rows of one source share a weight of 1 rather than outvoting the other sources.
    std::map<std::string, double> per_source;
    for (const auto* r : v) per_source[r->source] += 1;
    std::vector<std::pair<double, double>> vw;
    for (const auto* r : v)
      vw.push_back({r->log_ratio, per_source_weight ? 1.0 / per_source[r->source] : 1.0});
    lo = weighted_percentile(vw, lo_q), hi = weighted_percentile(vw, hi_q);
  }
  out.log_lo = lo, out.log_hi = hi;
  if (!contain_prediction && (lo > 0 || hi < 0)) {
    char buf[128];
    std::snprintf(buf, sizeof buf, "; its cases ran %+.0f%% to %+.0f%% vs their predictions",
                  100 * (std::exp(lo) - 1), 100 * (std::exp(hi) - 1));
    out.basis += buf;
  }
  // With contain_prediction, residuals never move the interval off the prediction.
  out.step_lo = p.step_time_s * std::exp(contain_prediction ? std::min(lo, 0.0) : lo);
  out.step_hi = p.step_time_s * std::exp(contain_prediction ? std::max(hi, 0.0) : hi);
  out.tflops_lo = p.model_tflops_per_gpu * p.step_time_s / out.step_hi;
  out.tflops_hi = p.model_tflops_per_gpu * p.step_time_s / out.step_lo;
  return out;
}

namespace {
// Each case against the interval built without its own source: covered?, width, class.
struct CaseCheck {
  bool covered = false;
  double width = 0;
  std::string level;
};
// `held_out`: a source left out of every interval and of the cases checked (nested_coverage).
std::vector<CaseCheck> check_cases(const IntervalTable& t, const std::string& held_out = "") {
  std::vector<CaseCheck> out;
  StepCost p;  // a 1 s prediction: the interval scales with it
  p.step_time_s = 1.0;
  p.model_tflops_per_gpu = 1.0;
  for (const auto& r : t.residuals) {
    if (!held_out.empty() && r.source == held_out) continue;
    const Interval iv = t.interval(r.cls, p, r.source, held_out);
    const double measured = std::exp(r.log_ratio);
    out.push_back({measured >= iv.step_lo * (1 - 1e-12) && measured <= iv.step_hi * (1 + 1e-12),
                   iv.step_hi - iv.step_lo, iv.level});
  }
  return out;
}
Coverage summarize_cases(const std::vector<const CaseCheck*>& v) {
  Coverage c;
  std::vector<double> widths;
  for (const auto* k : v) {
    ++c.cases;
    c.covered += k->covered ? 1 : 0;
    widths.push_back(k->width);
  }
  c.median_width = percentile(widths, 0.5);
  return c;
}
}  // namespace

Coverage coverage(const IntervalTable& t) {
  const auto checks = check_cases(t);
  std::vector<const CaseCheck*> all;
  for (const auto& k : checks) all.push_back(&k);
  return summarize_cases(all);
}

std::vector<std::pair<std::string, Coverage>> coverage_by_class(const IntervalTable& t) {
  const auto checks = check_cases(t);
  std::vector<std::pair<std::string, Coverage>> out;
  std::vector<std::string> order;
  for (const auto& k : checks)
    if (std::find(order.begin(), order.end(), k.level) == order.end()) order.push_back(k.level);
  for (const auto& level : order) {
    std::vector<const CaseCheck*> v;
    for (const auto& k : checks)
      if (k.level == level) v.push_back(&k);
    out.push_back({level, summarize_cases(v)});
  }
  return out;
}

Coverage choose_span(IntervalTable& t) {
  Coverage c;
  if (t.method == IntervalTable::Method::RandomEffects) {
    for (const double level : kLevels) {
      t.level = level;
      c = coverage(t);
      if (c.fraction() >= kTargetCoverage) break;
    }
    return c;
  }
  for (const auto& [lo, hi] : kSpans) {
    t.lo_q = lo, t.hi_q = hi;
    c = coverage(t);
    if (c.fraction() >= kTargetCoverage) break;
  }
  return c;
}

Coverage nested_coverage(const IntervalTable& t) {
  std::vector<std::string> sources;
  for (const auto& r : t.residuals)
    if (std::find(sources.begin(), sources.end(), r.source) == sources.end()) sources.push_back(r.source);
  StepCost p;
  p.step_time_s = 1.0;
  p.model_tflops_per_gpu = 1.0;
  std::vector<CaseCheck> checks;
  for (const auto& held : sources) {
    IntervalTable u = t;  // the level / span chosen on the other sources' cases alone
    const auto reaches = [&] {
      const auto c = check_cases(u, held);
      std::vector<const CaseCheck*> v;
      for (const auto& k : c) v.push_back(&k);
      return summarize_cases(v).fraction() >= kTargetCoverage;
    };
    if (u.method == IntervalTable::Method::RandomEffects) {
      for (const double level : kLevels)
        if (u.level = level; reaches()) break;
    } else {
      for (const auto& [lo, hi] : kSpans)
        if (u.lo_q = lo, u.hi_q = hi; reaches()) break;
    }
    for (const auto& r : u.residuals) {
      if (r.source != held) continue;
      const Interval iv = u.interval(r.cls, p, held);
      const double measured = std::exp(r.log_ratio);
      checks.push_back({measured >= iv.step_lo * (1 - 1e-12) && measured <= iv.step_hi * (1 + 1e-12),
                        iv.step_hi - iv.step_lo, iv.level});
    }
  }
  std::vector<const CaseCheck*> all;
  for (const auto& k : checks) all.push_back(&k);
  return summarize_cases(all);
}

const IntervalTable& corpus_interval_table() {
  static std::once_flag once;
  static IntervalTable table;
  std::call_once(once, [] {
    const auto corpus = load_embedded_corpus();
    std::vector<SourceReport> shipped;
    for (const auto& s : corpus) shipped.push_back(validate_source(s));
    table = interval_table(leave_one_source_out(corpus), shipped);
    choose_span(table);
  });
  return table;
}

Interval prediction_interval(const Model& m, const Cluster& c, const Training& t,
                             const StepCost& predicted) {
  return corpus_interval_table().interval(case_class(m, c, t, predicted), predicted);
}

Interval own_interval(const std::vector<double>& residuals, const StepCost& predicted, Interval corpus) {
  if (residuals.size() < kOwnResidualsMin) {
    if (!residuals.empty())
      corpus.basis += "; your " + std::to_string(residuals.size()) + " runs are too few for their own (" +
                      std::to_string(kOwnResidualsMin) + " needed)";
    return corpus;
  }
  const double lo = percentile(residuals, 0.05), hi = percentile(residuals, 0.95);
  Interval out;
  out.step_lo = predicted.step_time_s * std::exp(std::min(lo, 0.0));
  out.step_hi = predicted.step_time_s * std::exp(std::max(hi, 0.0));
  out.tflops_lo = predicted.model_tflops_per_gpu * predicted.step_time_s / out.step_hi;
  out.tflops_hi = predicted.model_tflops_per_gpu * predicted.step_time_s / out.step_lo;
  out.cases = residuals.size();
  out.level = "own runs";
  out.basis = "your " + std::to_string(out.cases) + " runs (leave-one-run-out residuals of fit --runs)";
  return out;
}

}  // namespace parplan::cost
