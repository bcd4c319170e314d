#include "parplan/cost/intervals.hpp"

#include <algorithm>
#include <cmath>
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

IntervalTable interval_table(const LosoReport& loso, const std::vector<SourceReport>& shipped) {
  IntervalTable t;
  for (size_t i = 0; i < loso.sources.size(); ++i) {
    const SourceReport& s =
        loso.sources[i].fit_source || i >= shipped.size() ? loso.sources[i] : shipped[i];
    for (const auto& row : s.rows) {
      const double ratio = step_ratio(row.predicted, *row.run);
      if (!(ratio > 0) || !std::isfinite(ratio)) continue;
      t.residuals.push_back({row.run->source, row.run->id, row.run->generation(),
                             row.run->training.framework_name(), dominant_cost(row.predicted),
                             -std::log(ratio)});
    }
  }
  return t;
}

Interval IntervalTable::interval(const std::string& generation, const std::string& framework,
                                 const StepCost& p, const std::string& exclude) const {
  const std::string dom = dominant_cost(p);
  struct Level {
    bool gen, fw, dom;
  };
  // From the most similar cases to all of them, the first class with enough residuals.
  const Level levels[] = {{true, true, true}, {true, false, true}, {true, true, false},
                          {true, false, false}, {false, false, true}, {false, false, false}};
  std::vector<const Residual*> v;
  Interval out;
  for (const auto& lv : levels) {
    v.clear();
    for (const auto& r : residuals) {
      if (r.source == exclude) continue;
      if (lv.gen && r.generation != generation) continue;
      if (lv.fw && r.framework != framework) continue;
      if (lv.dom && r.dominant != dom) continue;
      v.push_back(&r);
    }
    std::set<std::string> sources;
    for (const auto* r : v) sources.insert(r->source);
    if (v.size() >= min_cases && sources.size() >= min_sources) {
      out.basis = std::string(lv.gen ? generation + " " : "") + (lv.fw ? framework + " " : "") +
                  (lv.dom ? dom + "-bound " : "") + (lv.gen || lv.fw || lv.dom ? "" : "all ") +
                  "(" + std::to_string(v.size()) + " cases, " + std::to_string(sources.size()) + " sources)";
      break;
    }
  }
  if (out.basis.empty() && !v.empty())  // every level too thin: all cases, said so
    out.basis = "all (" + std::to_string(v.size()) + " cases, fewer sources than wanted)";
  out.cases = v.size();
  if (v.empty()) {
    out.step_lo = out.step_hi = p.step_time_s;
    out.tflops_lo = out.tflops_hi = p.model_tflops_per_gpu;
    out.basis = "no corpus cases";
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
  // Residuals never move the interval off the prediction: it always contains it.
  out.step_lo = p.step_time_s * std::exp(contain_prediction ? std::min(lo, 0.0) : lo);
  out.step_hi = p.step_time_s * std::exp(contain_prediction ? std::max(hi, 0.0) : hi);
  out.tflops_lo = p.model_tflops_per_gpu * p.step_time_s / out.step_hi;
  out.tflops_hi = p.model_tflops_per_gpu * p.step_time_s / out.step_lo;
  return out;
}

Coverage coverage(const IntervalTable& t) {
  Coverage c;
  std::vector<double> widths;
  for (const auto& r : t.residuals) {
    // A prediction of 1 s with the case's dominant cost: the class only depends on these keys.
    StepCost p;
    p.step_time_s = 1.0;
    p.model_tflops_per_gpu = 1.0;
    if (r.dominant == "compute") p.time.compute = 1;
    else if (r.dominant == "tp") p.time.tp_comm = 1;
    else if (r.dominant == "pp") p.time.pp_bubble = 1;
    else if (r.dominant == "dp") p.time.dp_comm_exposed = 1;
    else p.time.optimizer = 1;
    const Interval iv = t.interval(r.generation, r.framework, p, r.source);
    const double measured = std::exp(r.log_ratio);
    ++c.cases;
    if (measured >= iv.step_lo * (1 - 1e-12) && measured <= iv.step_hi * (1 + 1e-12)) ++c.covered;
    widths.push_back(iv.step_hi - iv.step_lo);
  }
  c.median_width = percentile(widths, 0.5);
  return c;
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

Interval prediction_interval(const Cluster& c, const Training& t, const StepCost& predicted) {
  CorpusRun probe;
  probe.cluster = c;
  return corpus_interval_table().interval(probe.generation(), t.framework_name(), predicted);
}

}  // namespace parplan::cost
