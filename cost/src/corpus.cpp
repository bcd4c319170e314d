#include "parplan/cost/corpus.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>

#include "parplan/cost/fp8.hpp"
#include "parplan/model/io.hpp"

namespace parplan::cost {

const char* to_string(Figure f) {
  switch (f) {
    case Figure::StepTime: return "step time";
    case Figure::TokensPerGpu: return "tokens/s/GPU";
    case Figure::ModelTflops: return "model TFLOP/s/GPU";
    case Figure::HardwareTflops: return "hardware TFLOP/s/GPU";
    case Figure::Mfu: return "MFU";
  }
  return "?";
}

std::string CorpusRun::generation() const {
  return gpu_generation(cluster.gpu);
}

namespace {

[[noreturn]] void fail(const std::string& where, const std::string& what) {
  throw Error("corpus " + where + ": " + what);
}

nlohmann::json merged(const nlohmann::json& defaults, const nlohmann::json& row, const char* key) {
  nlohmann::json out = defaults.contains(key) ? defaults.at(key) : nlohmann::json::object();
  if (row.contains(key)) out.merge_patch(row.at(key));
  return out;
}

// A name of the file's inline objects, else a preset name.
std::string spec_of(const nlohmann::json& file, const char* table, const nlohmann::json& ref,
                    const std::string& where) {
  if (!ref.is_string()) fail(where, std::string(table == std::string("models") ? "model" : "cluster") +
                                        " must be a name (inline definitions go in \"" + table + "\")");
  const std::string name = ref.get<std::string>();
  if (file.contains(table) && file.at(table).contains(name)) return file.at(table).at(name).dump();
  return name;
}

template <class T, class Loader>
T load_strict(Loader load, const std::string& spec, const std::string& where) {
  std::vector<std::string> warnings;
  T v;
  try {
    v = load(spec, &warnings);
  } catch (const std::exception& e) {
    fail(where, e.what());
  }
  if (!warnings.empty()) fail(where, warnings.front());
  return v;
}

// The fastest micro-batch of 1..16 that fits, for sources that do not publish it.
int32_t best_micro_batch(const CorpusRun& r) {
  int32_t best = 0;
  double best_t = std::numeric_limits<double>::infinity();
  for (int32_t mb : {1, 2, 4, 8, 16}) {
    Layout l = r.layout;
    l.micro_batch = mb;
    Diagnostics d;
    validate(l, r.model, r.cluster, r.training, d);
    if (!d.ok()) continue;
    StepCost s;
    try {
      s = predict(r.model, r.cluster, r.training, l);
    } catch (const std::exception&) {
      continue;
    }
    if (s.fits && s.step_time_s < best_t) best = mb, best_t = s.step_time_s;
  }
  return best;
}

const std::pair<const char*, Figure> kFigures[] = {
    {"step_time_s", Figure::StepTime},
    {"tokens_per_s_per_gpu", Figure::TokensPerGpu},
    {"model_tflops_per_gpu", Figure::ModelTflops},
    {"hardware_tflops_per_gpu", Figure::HardwareTflops},
    {"mfu", Figure::Mfu}};

}  // namespace

CorpusSource corpus_source_from_json(const nlohmann::json& j, const std::string& file) {
  if (!j.is_object()) fail(file, "is not a JSON object");
  for (const char* k : {"id", "source", "fit_source", "runs"})
    if (!j.contains(k)) fail(file, std::string("\"") + k + "\" is missing");
  CorpusSource s;
  s.id = j.at("id").get<std::string>();
  s.citation = j.at("source").get<std::string>();
  s.url = j.value("url", std::string());
  s.fit_source = j.at("fit_source").get<bool>();
  const nlohmann::json defaults = j.value("defaults", nlohmann::json::object());
  for (const auto& row : j.at("runs")) {
    CorpusRun r;
    r.source = s.id;
    r.id = row.value("id", std::string());
    const std::string where = file + " run \"" + r.id + "\"";
    if (r.id.empty()) fail(file, "a run has no \"id\"");
    r.table = row.value("table", std::string());
    r.verified = row.value("verified", true);
    r.unverified = row.value("unverified", std::string());
    if (!r.verified && r.unverified.empty())
      fail(where, "\"verified\": false needs \"unverified\": what could not be checked and why");
    r.fit = row.value("fit", s.fit_source);
    if (r.fit && !s.fit_source)
      fail(where, "\"fit\": true in a source that is not a fit source (fit_source false)");
    if (!row.contains("model")) fail(where, "\"model\" is missing");
    r.model = load_strict<Model>(load_model, spec_of(j, "models", row.at("model"), where), where);
    const nlohmann::json cref = row.contains("cluster") ? row.at("cluster") : defaults.value("cluster", nlohmann::json());
    r.cluster = load_strict<Cluster>(load_cluster, spec_of(j, "clusters", cref, where), where);

    nlohmann::json tj = merged(defaults, row, "training");
    const std::string fw = row.value("framework", defaults.value("framework", std::string()));
    if (!fw.empty()) tj["framework"] = fw;
    r.training = load_strict<Training>(load_training, tj.dump(), where + " training");

    nlohmann::json lj = merged(defaults, row, "layout");
    const bool best_mb = lj.contains("micro_batch") && lj["micro_batch"].is_string();
    if (best_mb) {
      if (lj["micro_batch"] != "best") fail(where, "layout.micro_batch must be a number or \"best\"");
      lj.erase("micro_batch");
    }
    r.layout = load_strict<Layout>(load_layout, lj.dump(), where + " layout");
    const int64_t gpus = row.value("gpus", int64_t(0));
    if (gpus != r.layout.gpus())
      fail(where, "gpus " + std::to_string(gpus) + " but the layout has dp*tp*pp*cp = " +
                      std::to_string(r.layout.gpus()));
    // The cluster is sized to the run: a source describes the job's GPUs, not the machine's.
    const int64_t gpn = std::max<int64_t>(1, r.cluster.gpus_per_node);
    r.cluster.nodes = std::max(r.cluster.nodes, (gpus + gpn - 1) / gpn);
    if (best_mb) {
      r.layout.micro_batch = best_micro_batch(r);
      if (r.layout.micro_batch == 0) fail(where, "no micro-batch of 1..16 is valid and fits");
    }
    Diagnostics d;
    validate(r.layout, r.model, r.cluster, r.training, d);
    if (!d.ok()) fail(where, d.errors.front());
    try {
      (void)predict(r.model, r.cluster, r.training, r.layout);
    } catch (const std::exception& e) {
      fail(where, e.what());
    }

    if (!row.contains("measured") || !row.at("measured").is_object()) fail(where, "\"measured\" is missing");
    const nlohmann::json& mj = row.at("measured");
    bool found = false;
    for (const auto& [key, fig] : kFigures)
      if (mj.contains(key)) {
        r.figure = fig;
        r.measured = mj.at(key).get<double>();
        found = true;
        break;
      }
    if (!found) fail(where, "measured has none of step_time_s, tokens_per_s_per_gpu, model_tflops_per_gpu, hardware_tflops_per_gpu, mfu");
    if (!(r.measured > 0)) fail(where, "the measured figure must be > 0");
    r.measured_memory_GiB = mj.value("memory_GiB", 0.0);
    s.runs.push_back(std::move(r));
  }
  return s;
}

std::vector<CorpusSource> load_embedded_corpus() {
  std::vector<CorpusSource> out;
  for (const auto& f : embedded_corpus()) {
    const std::string name = f.name;
    if (name.size() < 5 || name == "README.json") continue;
    out.push_back(corpus_source_from_json(parse_json_text(f.text, "data/published/" + name),
                                          "data/published/" + name));
  }
  std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.id < b.id; });
  return out;
}

double figure_of(const StepCost& s, const CorpusRun& r) {
  switch (r.figure) {
    case Figure::StepTime: return s.step_time_s;
    case Figure::TokensPerGpu: return s.tokens_per_s / double(r.layout.gpus());
    case Figure::ModelTflops: return s.model_tflops_per_gpu;
    case Figure::HardwareTflops: return s.hardware_tflops_per_gpu;
    // Published MFU of FP8 runs is against the BF16 peak (fp8.hpp): compare like with like.
    case Figure::Mfu:
      return s.model_tflops_per_gpu * 1e12 / published_mfu_peak_flops(r.cluster.gpu, r.training);
  }
  return 0;
}

double step_ratio(const StepCost& s, const CorpusRun& r) {
  const double p = figure_of(s, r);
  if (r.figure == Figure::StepTime) return p / r.measured;
  return p > 0 ? r.measured / p : std::numeric_limits<double>::infinity();
}

double spearman(const std::vector<double>& x, const std::vector<double>& y) {
  const size_t n = x.size();
  if (n < 3 || y.size() != n) return std::numeric_limits<double>::quiet_NaN();
  auto ranks = [n](const std::vector<double>& v) {
    std::vector<size_t> idx(n);
    std::iota(idx.begin(), idx.end(), 0);
    std::sort(idx.begin(), idx.end(), [&](size_t a, size_t b) { return v[a] < v[b]; });
    std::vector<double> rk(n);
    for (size_t i = 0; i < n;) {
      size_t j = i;
      while (j + 1 < n && v[idx[j + 1]] == v[idx[i]]) ++j;
      for (size_t k = i; k <= j; ++k) rk[idx[k]] = 0.5 * double(i + j) + 1;  // average rank
      i = j + 1;
    }
    return rk;
  };
  const auto rx = ranks(x), ry = ranks(y);
  const double mx = std::accumulate(rx.begin(), rx.end(), 0.0) / double(n);
  const double my = std::accumulate(ry.begin(), ry.end(), 0.0) / double(n);
  double sxy = 0, sxx = 0, syy = 0;
  for (size_t i = 0; i < n; ++i) {
    sxy += (rx[i] - mx) * (ry[i] - my);
    sxx += (rx[i] - mx) * (rx[i] - mx);
    syy += (ry[i] - my) * (ry[i] - my);
  }
  if (sxx == 0 || syy == 0) return std::numeric_limits<double>::quiet_NaN();
  return sxy / std::sqrt(sxx * syy);  // Pearson correlation of the ranks
}

void summarize(SourceReport& r) {
  double sum = 0;
  r.worst = 0;
  std::vector<double> pred, meas;
  for (const auto& row : r.rows) {
    const double a = std::fabs(row.error);
    sum += a;
    if (a >= r.worst) r.worst = a, r.worst_row = row.run->id;
    pred.push_back(figure_of(row.predicted, *row.run));
    meas.push_back(row.run->measured);
    // Step time falls as throughput rises: rank every row on the same axis (throughput-like).
    if (row.run->figure == Figure::StepTime) pred.back() = -pred.back(), meas.back() = -meas.back();
  }
  r.mape = r.rows.empty() ? 0 : sum / double(r.rows.size());
  r.spearman = spearman(pred, meas);
}

SourceReport validate_source(const CorpusSource& s) {
  SourceReport r;
  r.id = s.id;
  r.fit_source = s.fit_source;
  for (const auto& run : s.runs) {
    RowResult row;
    row.run = &run;
    row.predicted = predict(run.model, run.cluster, run.training, run.layout);
    row.error = step_ratio(row.predicted, run) - 1;
    r.rows.push_back(row);
  }
  summarize(r);
  return r;
}

}  // namespace parplan::cost
