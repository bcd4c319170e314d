#include "measured.hpp"

#include <cmath>

#include "parplan/cost/corpus.hpp"
#include "parplan/cost/step.hpp"
#include "parplan/model/io.hpp"

namespace parplan::gui {

namespace {
double number(const nlohmann::json& j, const char* key, const std::string& source, bool required) {
  if (j.contains(key) && j[key].is_number()) return j[key].get<double>();
  if (required)
    throw Error(source + ": '" + key +
                "' is missing or not a number; pass a measured.json "
                "written by `parplan run`");
  return 0;
}
}  // namespace

namespace {
// A run `parplan import` wrote (the corpus format, one row): its inputs and measured figure.
MeasuredRun imported_from_json(const nlohmann::json& j, const std::string& source) {
  const cost::CorpusSource s = cost::corpus_source_from_json(j, source);
  if (s.runs.size() != 1)
    throw Error(source + ": holds " + std::to_string(s.runs.size()) +
                " runs; load one run as `parplan import` writes it");
  const cost::CorpusRun& run = s.runs.front();
  MeasuredRun r;
  r.source = source;
  r.raw = j;
  r.plan.model = run.model;
  r.plan.cluster = run.cluster;
  r.plan.training = run.training;
  r.plan.layout = run.layout;
  const cost::StepCost p = cost::predict(run.model, run.cluster, run.training, run.layout);
  // Every figure as a step time: step_ratio is predicted / measured step time.
  r.measured_step_s = p.step_time_s / cost::step_ratio(p, run);
  r.measured_tokens_per_s =
      double(run.training.global_batch) * double(run.training.seq_len) / r.measured_step_s;
  r.measured_mfu = p.mfu * p.step_time_s / r.measured_step_s;
  r.predicted_step_s = p.step_time_s;
  r.predicted_tokens_per_s = p.tokens_per_s;
  r.predicted_mfu = p.mfu;
  return r;
}
}  // namespace

MeasuredRun measured_from_json(const nlohmann::json& j, const std::string& source) {
  if (!j.is_object()) throw Error(source + ": expected a JSON object (measured.json)");
  if (j.contains("runs") && j.contains("fit_source")) return imported_from_json(j, source);
  if (!j.contains("plan") || !j["plan"].is_object())
    throw Error(source + ": 'plan' is missing; pass a measured.json written by `parplan run`");
  MeasuredRun r;
  r.source = source;
  r.raw = j;
  Diagnostics d;
  r.plan = plan_from_json(j["plan"], d);
  d.throw_if_errors(source);
  r.measured_step_s = number(j, "mean_step_time_s", source, true);
  if (!(r.measured_step_s > 0)) throw Error(source + ": 'mean_step_time_s' must be > 0");
  r.measured_tokens_per_s = number(j, "tokens_per_s", source, false);
  if (r.measured_tokens_per_s <= 0)
    r.measured_tokens_per_s =
        double(r.plan.training.global_batch) * double(r.plan.training.seq_len) / r.measured_step_s;
  r.measured_mfu = number(j, "mfu", source, false);
  cost::StepCost p = cost::predict(r.plan.model, r.plan.cluster, r.plan.training, r.plan.layout);
  r.predicted_step_s = p.step_time_s;
  r.predicted_tokens_per_s = p.tokens_per_s;
  r.predicted_mfu = p.mfu;
  return r;
}

MeasuredRun load_measured(const std::string& path) {
  return measured_from_json(parse_json_text(read_file(path), path), path);
}

double mean_abs_step_error(const std::vector<MeasuredRun>& runs) {
  if (runs.empty()) return 0;
  double sum = 0;
  for (const auto& r : runs) sum += std::abs(r.step_error());
  return sum / double(runs.size());
}

}  // namespace parplan::gui
