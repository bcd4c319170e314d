#include "common.hpp"

#include <algorithm>
#include <cmath>
#include <cstdlib>

#include "parplan/cost/step.hpp"

namespace parplan::cost {

namespace import_detail {

void fail(const ImportOptions& o, const std::string& what) {
  throw Error("import " + (o.log_name.empty() ? std::string("log") : "'" + brief(o.log_name, 200) + "'") +
              ": " + what);
}

std::vector<std::string> split_lines(const std::string& text) {
  std::vector<std::string> out;
  size_t b = 0;
  while (b < text.size()) {
    size_t e = text.find('\n', b);
    if (e == std::string::npos) e = text.size();
    std::string line = text.substr(b, e - b);
    if (!line.empty() && line.back() == '\r') line.pop_back();
    out.push_back(std::move(line));
    b = e + 1;
  }
  return out;
}

std::string trim(const std::string& s) {
  const size_t b = s.find_first_not_of(" \t\r");
  if (b == std::string::npos) return "";
  return s.substr(b, s.find_last_not_of(" \t\r") - b + 1);
}

bool starts_with(const std::string& s, const std::string& prefix) {
  return s.compare(0, prefix.size(), prefix) == 0;
}

bool number_after(const std::string& line, const std::string& key, double& out) {
  const size_t k = line.find(key);
  if (k == std::string::npos) return false;
  std::string digits;
  for (size_t i = k + key.size(); i < line.size(); ++i) {
    const char c = line[i];
    if (c == ' ' && digits.empty()) continue;
    if (c == ',') continue;  // torchtitan's tps: {round(tps):,}
    if ((c >= '0' && c <= '9') || c == '.' || c == '-' || c == '+' || c == 'e' || c == 'E')
      digits += c;
    else
      break;
  }
  if (digits.empty()) return false;
  char* end = nullptr;
  out = std::strtod(digits.c_str(), &end);
  return end && *end == '\0' && std::isfinite(out);
}

bool Args::has(const std::string& k) const { return values.count(k) > 0; }

bool Args::present(const std::string& k) const {
  auto it = values.find(k);
  return it != values.end() && it->second != "None" && it->second != "null" && !it->second.empty();
}

std::string Args::str(const std::string& k, const std::string& fallback) const {
  return present(k) ? values.at(k) : fallback;
}

bool Args::flag(const std::string& k, bool fallback) const {
  if (!present(k)) return fallback;
  const std::string& v = values.at(k);
  return v == "True" || v == "true" || v == "1";
}

int64_t Args::integer(const ImportOptions& o, const std::string& k) const {
  if (!present(k)) fail(o, "'" + k + "' is not in " + what);
  return integer(o, k, 0);
}

int64_t Args::integer(const ImportOptions& o, const std::string& k, int64_t fallback) const {
  if (!present(k)) return fallback;
  const std::string& v = values.at(k);
  char* end = nullptr;
  const long long x = std::strtoll(v.c_str(), &end, 10);
  if (end == v.c_str() || *end != '\0')
    fail(o, "'" + k + "' in " + what + " is '" + brief(v) + "', not an integer");
  return int64_t(x);
}

double Args::real(const ImportOptions& o, const std::string& k, double fallback) const {
  if (!present(k)) return fallback;
  const std::string& v = values.at(k);
  char* end = nullptr;
  const double x = std::strtod(v.c_str(), &end);
  if (end == v.c_str() || *end != '\0' || !std::isfinite(x))
    fail(o, "'" + k + "' in " + what + " is '" + brief(v) + "', not a number");
  return x;
}

void check_world(const ImportOptions& o, const ImportedRun& r, const std::string& layout_source) {
  const Layout& l = r.layout;
  if (r.world_size > 0 && r.world_size != l.gpus())
    fail(o, "the world size is " + std::to_string(r.world_size) + " but the layout " +
                layout_source + " is dp " + std::to_string(l.dp) + " x tp " + std::to_string(l.tp) +
                " x pp " + std::to_string(l.pp) + " x cp " + std::to_string(l.cp) + " = " +
                std::to_string(l.gpus()) +
                " GPUs; the log and its configuration disagree (a configuration of another run?)");
}

void finish(const ImportOptions& o, ImportedRun& r) {
  if (o.model) r.model = *o.model;
  if (!o.cluster)
    fail(o, "the cluster it ran on is not in the log; pass --cluster (a preset such as "
            "dgx-h100-80g, or a cluster file of your machines)");
  Cluster c = *o.cluster;
  const int64_t gpn = std::max<int64_t>(1, c.gpus_per_node);
  c.nodes = std::max(c.nodes, (r.layout.gpus() + gpn - 1) / gpn);
  r.cluster = c;
  Diagnostics d;
  validate(r.model, d);
  validate(r.training, d);
  validate(r.layout, r.model, c, r.training, d);
  if (!d.ok())
    fail(o, "the run as read is not valid: " + d.errors.front() +
                (o.model ? "" : " (pass --model if the log's model is not the one that ran)"));
}

}  // namespace import_detail

using namespace import_detail;

std::string detect_log_format(const std::string& text) {
  if (text.find("------------------------ arguments ------------------------") != std::string::npos ||
      text.find("elapsed time per iteration (ms):") != std::string::npos)
    return "megatron";
  if (text.find("[titan]") != std::string::npos ||
      text.find("Building device mesh with parallelism:") != std::string::npos)
    return "torchtitan";
  if (text.find("RunningAvgSamplesPerSec=") != std::string::npos ||
      text.find("DeepSpeedEngine configuration:") != std::string::npos)
    return "deepspeed";
  return "";
}

void summarize_steps(ImportedRun& r, int skip, const std::string& what) {
  const size_t n = r.steps.size();
  // The first fifth of the logged steps (at least the first: it holds initialisation, compile and
  // allocator warm-up) is dropped unless --skip says otherwise.
  const size_t k = skip >= 0 ? size_t(skip) : std::max<size_t>(1, n / 5);
  if (n < k + 3)
    throw Error(what + ": " + std::to_string(n) + " logged steps, " +
                (k >= n ? std::string("none") : std::to_string(n - k)) + " after dropping " +
                std::to_string(k) + " as warm-up; a median needs 3: log more steps (or a shorter "
                "log interval), or lower --skip");
  std::vector<double> v;
  for (size_t i = k; i < n; ++i) v.push_back(r.steps[i].value);
  std::sort(v.begin(), v.end());
  const size_t m = v.size();
  r.dropped = k;
  r.measured = m % 2 ? v[m / 2] : 0.5 * (v[m / 2 - 1] + v[m / 2]);
  r.spread_lo = v.front();
  r.spread_hi = v.back();
}

nlohmann::json to_corpus_json(const ImportedRun& r, const ImportOptions& o) {
  static const char* kKeys[] = {"step_time_s", "tokens_per_s_per_gpu", "model_tflops_per_gpu",
                                "hardware_tflops_per_gpu", "mfu"};
  nlohmann::json measured = {{kKeys[int(r.figure)], r.measured}};
  if (r.memory_GiB > 0) measured["memory_GiB"] = r.memory_GiB;
  const Cluster& c = r.cluster;
  nlohmann::json row = {
      {"id", o.id},
      {"table", r.reader + " log"},
      {"model", r.model.name},
      {"cluster", c.name},
      {"gpus", r.layout.gpus()},
      {"framework", r.training.framework_name()},
      {"training", to_json(r.training)},
      {"layout", to_json(r.layout)},
      {"measured", measured},
      {"steps",
       {{"logged", r.steps.size()},
        {"dropped_as_warmup", r.dropped},
        {"first_kept_step", r.dropped < r.steps.size() ? r.steps[r.dropped].step : 0},
        {"min", r.spread_lo},
        {"max", r.spread_hi},
        {"spread", r.measured > 0 ? (r.spread_hi - r.spread_lo) / r.measured : 0.0}}}};
  if (r.memory_GiB > 0) row["memory_kind"] = r.memory_kind;
  std::string assumed;
  for (const auto& n : r.notes) assumed += (assumed.empty() ? "" : "; ") + n;
  if (!assumed.empty()) row["verified"] = false, row["unverified"] = assumed;
  row["training"].erase("framework");
  nlohmann::json j = {
      {"id", o.id},
      {"source", "parplan import of '" + o.log_name + "' (" + r.reader + " log format" +
                     (r.commit.empty() ? "" : " at " + r.commit) + ")" +
                     (o.config_name.empty() ? "" : " with the configuration '" + o.config_name + "'")},
      {"fit_source", true},
      {"software", r.reader},
      {"hardware", c.name + (o.cluster_spec.empty() ? std::string(" (the plan's cluster)")
                                                    : " (--cluster " + o.cluster_spec + ")")},
      {"notes", "Imported by parplan import: the measured figure is the median of " +
                    std::to_string(r.steps.size() - r.dropped) + " logged steps after " +
                    std::to_string(r.dropped) + " dropped as warm-up."},
      {"models", {{r.model.name, to_json(r.model)}}},
      {"clusters", {{c.name, to_json(c)}}},  // inline even for a preset: the file stands alone
      {"runs", nlohmann::json::array({row})}};
  return j;
}

}  // namespace parplan::cost
