#include "parplan/cost/intervals.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <map>
#include <set>
#include <mutex>

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
  return s.empty() ? "all" : s;
}
bool same(const CaseClass& a, const CaseClass& b, unsigned lv) {
  return (!(lv & IntervalTable::kArch) || a.arch == b.arch) &&
         (!(lv & IntervalTable::kPrecision) || a.precision == b.precision) &&
         (!(lv & IntervalTable::kBound) || a.bound == b.bound) &&
         (!(lv & IntervalTable::kFramework) || a.framework == b.framework) &&
         (!(lv & IntervalTable::kGeneration) || a.generation == b.generation);
}
}  // namespace

Interval IntervalTable::interval(const CaseClass& k, const StepCost& p, const std::string& exclude) const {
  std::vector<const Residual*> v;
  Interval out;
  for (const unsigned lv : levels) {
    v.clear();
    for (const auto& r : residuals)
      if (r.source != exclude && same(r.cls, k, lv)) v.push_back(&r);
    std::set<std::string> sources;
    for (const auto* r : v) sources.insert(r->source);
    if (v.size() >= min_cases && sources.size() >= min_sources) {
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
  // Each source counts once: a new case's error is mostly its source's (setup, software), so
  // the rows of one source share a weight of 1 rather than outvoting the other sources.
  std::map<std::string, double> per_source;
  for (const auto* r : v) per_source[r->source] += 1;
  std::vector<std::pair<double, double>> vw;
  for (const auto* r : v)
    vw.push_back({r->log_ratio, per_source_weight ? 1.0 / per_source[r->source] : 1.0});
  const double lo = weighted_percentile(vw, lo_q), hi = weighted_percentile(vw, hi_q);
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
std::vector<CaseCheck> check_cases(const IntervalTable& t) {
  std::vector<CaseCheck> out;
  StepCost p;  // a 1 s prediction: the interval scales with it
  p.step_time_s = 1.0;
  p.model_tflops_per_gpu = 1.0;
  for (const auto& r : t.residuals) {
    const Interval iv = t.interval(r.cls, p, r.source);
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

const IntervalTable& corpus_interval_table() {
  static std::once_flag once;
  static IntervalTable table;
  std::call_once(once, [] {
    const auto corpus = load_embedded_corpus();
    std::vector<SourceReport> shipped;
    for (const auto& s : corpus) shipped.push_back(validate_source(s));
    table = interval_table(leave_one_source_out(corpus), shipped);
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
