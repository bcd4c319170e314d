#include "parplan/cost/corpus_report.hpp"

#include <algorithm>
#include <cmath>
#include <cstdarg>
#include <cstdio>

namespace parplan::cost {

CorpusValidation validate_corpus(std::vector<CorpusSource> corpus) {
  CorpusValidation v;
  v.corpus = std::move(corpus);
  for (const auto& s : v.corpus) v.in_sample.push_back(validate_source(s));
  v.loso = leave_one_source_out(v.corpus);
  v.intervals = interval_table(v.loso, v.in_sample);
  v.cover = choose_span(v.intervals);
  v.cover_by_class = coverage_by_class(v.intervals);
  IntervalTable other = v.intervals;
  other.contain_prediction = !other.contain_prediction;
  v.cover_other = coverage(other);
  v.cover_other_by_class = coverage_by_class(other);
  v.cover_nested = nested_coverage(v.intervals);
  v.calibrate_predict = calibrate_then_predict(v.corpus, &v.loso);
  v.memory = memory_check(v.in_sample);
  return v;
}

namespace {
std::string line(const char* f, ...) __attribute__((format(printf, 1, 2)));
std::string line(const char* f, ...) {
  char buf[1024];
  va_list ap;
  va_start(ap, f);
  std::vsnprintf(buf, sizeof buf, f, ap);
  va_end(ap);
  return std::string(buf) + "\n";
}
std::string rho(double r) {
  char b[16];
  if (std::isnan(r)) return "     -";
  std::snprintf(b, sizeof b, "%+6.2f", r);
  return b;
}
struct Totals {
  double sum = 0;
  size_t n = 0;
  double worst = 0;
};
std::string table(const std::vector<SourceReport>& reps, const char* title) {
  std::string s = line("%s", title);
  s += line("%-18s %4s %5s %8s %8s %9s  %s", "source", "fit", "rows", "MAPE", "worst", "Spearman",
            "worst row");
  Totals all, fit, other;
  for (const auto& r : reps) {
    s += line("%-18s %4s %5zu %7.1f%% %7.1f%% %9s  %s", r.id.c_str(), r.fit_source ? "yes" : "no",
              r.rows.size(), 100 * r.mape, 100 * r.worst, rho(r.spearman).c_str(),
              r.worst_row.c_str());
    for (Totals* t : {&all, r.fit_source ? &fit : &other}) {
      t->sum += r.mape * double(r.rows.size());
      t->n += r.rows.size();
      t->worst = std::max(t->worst, r.worst);
    }
  }
  auto tot = [&](const char* name, const Totals& t) {
    return line("%-18s %4s %5zu %7.1f%% %7.1f%%", name, "", t.n, t.n ? 100 * t.sum / double(t.n) : 0.0,
                100 * t.worst);
  };
  if (other.n == 0) return s + tot("all", all);  // every source is a fit source
  return s + tot("fit sources", fit) + tot("other sources", other) + tot("all", all);
}
}  // namespace

std::string corpus_tables(const CorpusValidation& v) {
  std::string s = table(v.in_sample, "In sample: the shipped efficiencies, fitted on every fit source (error of step time; throughput figures as step time)");
  s += "\n" + table(v.loso.sources,
                    "Leave one source out: each fit source predicted by the efficiencies refitted without it (from the cited priors); other sources by the fit on all fit sources");
  const bool held = v.intervals.contain_prediction;
  const char* how = held ? "widened to hold the prediction" : "where the class's cases fell around their predictions, the prediction staying the model's";
  const char* other_how = held ? "where the class's cases fell (not widened to hold the prediction)" : "widened to hold the prediction";
  const bool re = v.intervals.method == IntervalTable::Method::RandomEffects;
  std::string levels;  // "70 / 75 / 80 / 85 / 90%"
  for (const double l : kLevels) levels += (levels.empty() ? "" : " / ") + std::to_string(int(std::lround(100 * l)));
  if (re)
    s += line("\nIntervals (%.0f%% prediction intervals for a case of a source not seen, from similar cases' out-of-sample residuals of the model as it predicts (fit sources left out of the refit, other sources at the default efficiencies; at least %zu cases from %zu sources): the class's location (each source weighing the same), its between-source variance shrunk toward the corpus's (%g sources' weight) and its within-source variance, Student's t for its sources; %s; the level the lowest of %s%% that covers %.0f%% out of sample): cover %zu of %zu cases (%.0f%%), median width %.0f%% of the prediction",
              100 * v.intervals.level, v.intervals.min_cases, v.intervals.min_sources,
              v.intervals.prior_sources, how, levels.c_str(), 100 * kTargetCoverage, v.cover.covered, v.cover.cases,
              100 * v.cover.fraction(), 100 * v.cover.median_width);
  else
    s += line("\nIntervals (%g-%g%% of similar cases' out-of-sample residuals of the model as it predicts: fit sources left out of the refit, other sources at the default efficiencies; at least %zu cases from %zu sources, each source weighing the same; %s; the span the narrowest of 10-90 / 5-95 / 2.5-97.5%% that covers %.0f%% out of sample): cover %zu of %zu cases (%.0f%%), median width %.0f%% of the prediction",
              100 * v.intervals.lo_q, 100 * v.intervals.hi_q, v.intervals.min_cases,
              v.intervals.min_sources, how, 100 * kTargetCoverage,
              v.cover.covered, v.cover.cases, 100 * v.cover.fraction(), 100 * v.cover.median_width);
  s += line("  (%s: cover %zu of %zu (%.0f%%), median width %.0f%%)", other_how, v.cover_other.covered,
            v.cover_other.cases, 100 * v.cover_other.fraction(), 100 * v.cover_other.median_width);
  s += line("  (the %s chosen out of sample too, each source's cases at the %s chosen on the other sources alone: cover %zu of %zu (%.0f%%), median width %.0f%%)",
            re ? "level" : "span", re ? "level" : "span", v.cover_nested.covered, v.cover_nested.cases,
            100 * v.cover_nested.fraction(), 100 * v.cover_nested.median_width);
  if (re)
    for (const double level : kLevels) {  // every level tried
      if (level == v.intervals.level) continue;
      IntervalTable other_level = v.intervals;
      other_level.level = level;
      const Coverage n = coverage(other_level);
      s += line("  (the same at %.0f%%: cover %zu of %zu (%.0f%%), median width %.0f%%)", 100 * level,
                n.covered, n.cases, 100 * n.fraction(), 100 * n.median_width);
    }
  {  // the other method on the same residuals and classes, at each span / level it would try
    IntervalTable other_method = v.intervals;
    other_method.method = re ? IntervalTable::Method::Percentiles : IntervalTable::Method::RandomEffects;
    const Coverage n = choose_span(other_method);
    if (re)
      s += line("  (the classes' %g-%g%% weighted percentiles instead, the narrowest span covering %.0f%%: cover %zu of %zu (%.0f%%), median width %.0f%%)",
                100 * other_method.lo_q, 100 * other_method.hi_q, 100 * kTargetCoverage, n.covered,
                n.cases, 100 * n.fraction(), 100 * n.median_width);
    else
      s += line("  (a %.0f%% random-effects prediction interval instead: cover %zu of %zu (%.0f%%), median width %.0f%%)",
                100 * other_method.level, n.covered, n.cases, 100 * n.fraction(), 100 * n.median_width);
  }
  if (!re)
    for (const auto& [lo, hi] : kSpans) {  // every span tried
      if (lo == v.intervals.lo_q && hi == v.intervals.hi_q) continue;
      IntervalTable other_span = v.intervals;
      other_span.lo_q = lo, other_span.hi_q = hi;
      const Coverage n = coverage(other_span);
      s += line("  (the same residuals' %g-%g%% span: cover %zu of %zu (%.0f%%), median width %.0f%%)",
                100 * lo, 100 * hi, n.covered, n.cases, 100 * n.fraction(), 100 * n.median_width);
    }
  // The other class key: context length, in every level or in none.
  IntervalTable ctx = v.intervals;
  const bool has_ctx = std::any_of(ctx.levels.begin(), ctx.levels.end(),
                                   [](unsigned l) { return l & IntervalTable::kContext; });
  for (auto& l : ctx.levels)
    if (l != 0 || !has_ctx) l = has_ctx ? l & ~IntervalTable::kContext : l | IntervalTable::kContext;
  const Coverage c5 = choose_span(ctx);
  s += line("  (classes %s by context length (%lld tokens), the level / span chosen again: cover %zu of %zu (%.0f%%) at %.0f%%)",
            has_ctx ? "not split" : "also split", (long long)kLongContextTokens, c5.covered, c5.cases,
            100 * c5.fraction(), 100 * c5.median_width);
  s += line("\nIntervals per class (each case against the interval of its class built without its own source; a thin class backs off to a coarser one, named here; %s, then %s):", held ? "held" : "centred", held ? "centred" : "held");
  s += line("  %-52s %5s %7s %8s %6s %8s %6s", "class", "cases", "covered", "coverage", "width",
            "coverage", "width");
  for (size_t i = 0; i < v.cover_by_class.size(); ++i) {
    const auto& [cls, c] = v.cover_by_class[i];
    const Coverage& o = i < v.cover_other_by_class.size() ? v.cover_other_by_class[i].second : Coverage{};
    s += line("  %-52s %5zu %7zu %7.0f%% %5.0f%% %7.0f%% %5.0f%%", cls.c_str(), c.cases, c.covered,
              100 * c.fraction(), 100 * c.median_width, 100 * o.fraction(), 100 * o.median_width);
  }
  s += line("  %-52s %5zu %7zu %7.0f%% %5.0f%% %7.0f%% %5.0f%%", "overall", v.cover.cases, v.cover.covered,
            100 * v.cover.fraction(), 100 * v.cover.median_width, 100 * v.cover_other.fraction(),
            100 * v.cover_other.median_width);
  if (!v.calibrate_predict.empty()) s += "\n" + calibrate_then_predict_table(v.calibrate_predict);
  s += "\n" + memory_check_table(v.memory);
  s += line("\nFitted on all fit sources from the cited priors (%zu rows, rms log error %.3f -> %.3f, %d iterations):",
            v.loso.full.rows, v.loso.full.rms_log_before, v.loso.full.rms_log_after,
            v.loso.full.iterations);
  for (size_t k = 0; k < v.loso.full.params.size(); ++k)
    s += line("  %-8s %-18s %8.3f -> %8.3f", v.loso.full.params[k].generation.c_str(),
              v.loso.full.params[k].name, v.loso.full.initial[k] / v.loso.full.params[k].unit,
              v.loso.full.values[k] / v.loso.full.params[k].unit);
  return s;
}

std::string corpus_rows(const CorpusValidation& v) {
  std::string s = line("%-44s %-20s %10s %10s %8s %10s %8s", "run", "figure", "measured",
                       "predicted", "error", "LOSO", "error");
  for (size_t i = 0; i < v.in_sample.size(); ++i)
    for (size_t j = 0; j < v.in_sample[i].rows.size(); ++j) {
      const RowResult& a = v.in_sample[i].rows[j];
      const RowResult& b = v.loso.sources[i].rows[j];
      s += line("%-44s %-20s %10.4g %10.4g %+7.1f%% %10.4g %+7.1f%%%s", a.run->label().c_str(),
                to_string(a.run->figure), a.run->measured, figure_of(a.predicted, *a.run),
                100 * a.error, figure_of(b.predicted, *b.run), 100 * b.error,
                a.run->verified ? "" : "  (inputs partly assumed)");
    }
  return s;
}

nlohmann::json to_json(const CorpusValidation& v) {
  auto src = [](const SourceReport& r) {
    nlohmann::json rows = nlohmann::json::array();
    for (const auto& row : r.rows)
      rows.push_back({{"run", row.run->id}, {"table", row.run->table},
                      {"figure", to_string(row.run->figure)}, {"measured", row.run->measured},
                      {"predicted", figure_of(row.predicted, *row.run)}, {"error", row.error},
                      {"verified", row.run->verified}});
    return nlohmann::json{{"source", r.id}, {"fit_source", r.fit_source}, {"mape", r.mape},
                          {"worst", r.worst}, {"worst_run", r.worst_row},
                          {"spearman", std::isnan(r.spearman) ? nlohmann::json() : nlohmann::json(r.spearman)},
                          {"runs", rows}};
  };
  nlohmann::json j = {{"in_sample", nlohmann::json::array()},
                      {"leave_one_source_out", nlohmann::json::array()},
                      {"coverage", {{"cases", v.cover.cases}, {"covered", v.cover.covered},
                                    {"method", v.intervals.method == IntervalTable::Method::RandomEffects ? "random-effects" : "percentiles"},
                                    {"level", v.intervals.level},
                                    {"quantiles", {v.intervals.lo_q, v.intervals.hi_q}},
                                    {"fraction", v.cover.fraction()},
                                    {"median_width", v.cover.median_width},
                                    {"holds_prediction", v.intervals.contain_prediction}}},
                      {"coverage_other_placement",
                       {{"cases", v.cover_other.cases}, {"covered", v.cover_other.covered},
                        {"fraction", v.cover_other.fraction()},
                        {"median_width", v.cover_other.median_width},
                        {"holds_prediction", !v.intervals.contain_prediction}}},
                      {"coverage_level_chosen_out_of_sample",
                       {{"cases", v.cover_nested.cases}, {"covered", v.cover_nested.covered},
                        {"fraction", v.cover_nested.fraction()},
                        {"median_width", v.cover_nested.median_width}}},
                      {"coverage_by_class", nlohmann::json::array()},
                      {"calibrate_then_predict", nlohmann::json::array()},
                      {"fit", nlohmann::json::array()}};
  for (size_t i = 0; i < v.cover_by_class.size(); ++i) {
    const auto& [cls, c] = v.cover_by_class[i];
    nlohmann::json e = {{"class", cls}, {"cases", c.cases}, {"covered", c.covered},
                        {"median_width", c.median_width}};
    if (i < v.cover_other_by_class.size())
      e["other_placement"] = {{"covered", v.cover_other_by_class[i].second.covered},
                              {"median_width", v.cover_other_by_class[i].second.median_width}};
    j["coverage_by_class"].push_back(e);
  }
  for (const auto& c : v.calibrate_predict)
    j["calibrate_then_predict"].push_back({{"source", c.source}, {"rows", c.rows},
                                           {"rotations", c.rotations},
                                           {"default_median_abs_error", c.default_median},
                                           {"start_median_abs_error", c.start},
                                           {"median_abs_error", c.median},
                                           {"fitted_share", c.fitted_share},
                                           {"parameter", c.parameter},
                                           {"all_but_one_median_abs_error", c.all_but_one},
                                           {"spread", {c.lo, c.hi}}});
  j["memory"] = to_json(v.memory);
  j["residuals"] = nlohmann::json::array();  // what the intervals are built from, per case
  for (const auto& r : v.intervals.residuals)
    j["residuals"].push_back({{"source", r.source}, {"run", r.run}, {"log_ratio", r.log_ratio},
                              {"arch", r.cls.arch}, {"precision", r.cls.precision},
                              {"bound", r.cls.bound}, {"framework", r.cls.framework},
                              {"generation", r.cls.generation}, {"context", r.cls.context}});
  for (const auto& r : v.in_sample) j["in_sample"].push_back(src(r));
  for (const auto& r : v.loso.sources) j["leave_one_source_out"].push_back(src(r));
  for (size_t k = 0; k < v.loso.full.params.size(); ++k)
    j["fit"].push_back({{"generation", v.loso.full.params[k].generation},
                        {"parameter", v.loso.full.params[k].name},
                        {"default", v.loso.full.initial[k]}, {"fitted", v.loso.full.values[k]}});
  return j;
}

}  // namespace parplan::cost
