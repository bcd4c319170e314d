#include "parplan/cost/validation.hpp"

#include <cmath>
#include <map>

namespace parplan::cost {

double MemoryCase::params_error() const {
  return (predicted_params_optimizer_bytes - measured_params_optimizer_bytes) /
         measured_params_optimizer_bytes;
}
double MemoryCase::activation_error() const {
  return (predicted_activation_bytes - measured_activation_bytes) / measured_activation_bytes;
}

namespace {
constexpr double kGiB = 1024.0 * 1024.0 * 1024.0;

// Checked access (docs/errors.md): every field by type and range, every problem an Error naming
// "published file: <case>.<key>", never a raw JSON exception, a division by zero or +inf%.
std::string where_of(const std::string& where, const char* key) {
  return "published file: " + brief(where, 60) + "." + key;
}
const nlohmann::json& need(const nlohmann::json& j, const char* key, const std::string& where) {
  if (!j.is_object())
    throw Error("published file: " + brief(where, 60) + " must be a JSON object, got " +
                j.type_name());
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) throw Error(where_of(where, key) + " is missing; add it");
  return *it;
}
int64_t need_int(const nlohmann::json& j, const char* key, const std::string& where, int64_t lo,
                 int64_t hi) {
  const nlohmann::json& v = need(j, key, where);
  const double x = v.is_number() ? v.get<double>() : std::nan("");
  if (!(x == std::floor(x) && x >= double(lo) && x <= double(hi)))
    throw Error(where_of(where, key) + " must be an integer from " + std::to_string(lo) + " to " +
                std::to_string(hi) + ", got " +
                (v.is_string() ? "\"" + brief(v.get<std::string>(), 40) + "\"" : brief(v.dump(), 40)));
  return int64_t(x);
}
int64_t opt_int(const nlohmann::json& j, const char* key, const std::string& where, int64_t dflt,
                int64_t lo, int64_t hi) {
  return j.is_object() && j.contains(key) && !j.at(key).is_null() ? need_int(j, key, where, lo, hi)
                                                                  : dflt;
}
double need_positive(const nlohmann::json& j, const char* key, const std::string& where,
                     double hi) {
  const nlohmann::json& v = need(j, key, where);
  const double x = v.is_number() ? v.get<double>() : std::nan("");
  if (!(x > 0 && x <= hi))
    throw Error(where_of(where, key) + " must be a finite number > 0 and <= " + brief(nlohmann::json(hi).dump()) +
                ", got " + (v.is_string() ? "\"" + brief(v.get<std::string>(), 40) + "\"" : brief(v.dump(), 40)));
  return x;
}
std::string need_string(const nlohmann::json& j, const char* key, const std::string& where) {
  const nlohmann::json& v = need(j, key, where);
  if (!v.is_string()) throw Error(where_of(where, key) + " must be a string, got " + v.type_name());
  const auto& text = v.get_ref<const std::string&>();
  for (unsigned char c : text)
    if (c < 0x20 || c == 0x7f || text.size() > 4096)
      throw Error(where_of(where, key) + " must be a short name without control characters");
  return text;
}
std::string opt_string(const nlohmann::json& j, const char* key, const std::string& where,
                       const std::string& dflt) {
  return j.is_object() && j.contains(key) && !j.at(key).is_null() ? need_string(j, key, where)
                                                                  : dflt;
}
const nlohmann::json& need_array(const nlohmann::json& j, const char* key, const std::string& where) {
  const nlohmann::json& v = need(j, key, where);
  if (!v.is_array()) throw Error(where_of(where, key) + " must be an array, got " + v.type_name());
  return v;
}
constexpr int64_t kMaxDim = int64_t(1) << 24;     // layers, hidden, heads, degrees
constexpr int64_t kMaxCount = int64_t(1) << 40;   // GPUs, batches, vocab

Model model_of(const nlohmann::json& models, const nlohmann::json& common, const std::string& name) {
  const nlohmann::json& mj = need(models, name.c_str(), "models");
  Model m;
  m.name = name;
  m.layers = need_int(mj, "layers", name, 1, kMaxDim);
  m.hidden = need_int(mj, "hidden", name, 1, kMaxDim);
  m.heads = need_int(mj, "heads", name, 1, kMaxDim);
  m.kv_heads = m.heads;
  m.ffn_hidden = opt_int(mj, "ffn_hidden", name, 4 * m.hidden, 1, 4 * kMaxDim);
  m.vocab = opt_int(mj, "vocab", name, opt_int(common, "vocab", "common", 51200, 1, kMaxCount), 1,
                    kMaxCount);
  m.max_seq_len = opt_int(common, "seq_len", "common", 2048, 1, kMaxCount);
  Diagnostics d;
  validate(m, d, "models." + brief(name, 60));
  d.throw_if_errors("published file");
  return m;
}

// Megatron-LM as the paper ran it: fp16 with fp32 gradient accumulation, no flash attention.
Training training_of(const nlohmann::json& common, int64_t global_batch) {
  Training t;
  t.global_batch = global_batch;
  t.seq_len = opt_int(common, "seq_len", "common", 2048, 1, kMaxCount);
  DType dt = DType::FP16;
  const std::string dtype = opt_string(common, "dtype", "common", "fp16");
  if (!parse_dtype(dtype, dt))
    throw Error("published file: common.dtype: unknown value \"" + brief(dtype) + "\"");
  t.dtype = dt;
  t.fp32_grad_accum = true;
  t.flash_attention = false;
  return t;
}
}  // namespace

ValidationReport validate_published(const nlohmann::json& pub, const Cluster& cluster) {
  ValidationReport r;
  if (!pub.is_object())
    throw Error(std::string("published file: must be a JSON object (source, common, models, "
                            "iteration_time_s), got ") + pub.type_name());
  r.source = opt_string(pub, "source", "file", "(no source)");
  const nlohmann::json& common = need(pub, "common", "file");
  const nlohmann::json& models = need(pub, "models", "file");
  if (!common.is_object() || !models.is_object())
    throw Error("published file: common and models must be JSON objects");
  std::map<std::string, Layout> selective_layout;  // memory cases reuse the seqsel layout
  std::map<std::string, Training> training_by_model;
  double sum_abs = 0;
  for (const auto& c : need_array(pub, "iteration_time_s", "file")) {
    IterationCase ic;
    const std::string name = need_string(c, "model", "iteration_time_s[]");
    ic.model = model_of(models, common, name);
    ic.training = training_of(common, need_int(c, "global_batch", name, 1, kMaxCount));
    Layout& l = ic.layout;
    l.tp = int32_t(need_int(c, "tp", name, 1, kMaxDim));
    l.pp = int32_t(need_int(c, "pp", name, 1, kMaxDim));
    const int64_t gpus = need_int(c, "gpus", name, 1, kMaxCount);
    if (gpus % (int64_t(l.tp) * l.pp) != 0 || gpus / (int64_t(l.tp) * l.pp) > kMaxDim)
      throw Error("published file: " + brief(name, 60) + ".gpus " + std::to_string(gpus) +
                  " is not a multiple of tp*pp = " + std::to_string(int64_t(l.tp) * l.pp) +
                  " (or leaves more than 2^24 replicas); fix the case");
    l.dp = int32_t(gpus / (int64_t(l.tp) * l.pp));
    l.micro_batch = int32_t(need_int(c, "micro_batch", name, 1, kMaxDim));
    l.zero = int32_t(opt_int(common, "zero", "common", 0, 0, 3));
    const std::string rc = need_string(c, "recompute", name);
    if (!parse_recompute(rc, l.recompute))
      throw Error("published file: " + brief(name, 60) + ".recompute: unknown value \"" +
                  brief(rc) + "\"; use none, selective or full");
    if (c.contains("sequence_parallel") && !c["sequence_parallel"].is_boolean())
      throw Error("published file: " + brief(name, 60) + ".sequence_parallel must be true or false");
    l.sequence_parallel = c.contains("sequence_parallel") && c["sequence_parallel"].get<bool>();
    l.virtual_stages = int32_t(opt_int(c, "virtual_stages", name, 1, 1, kMaxDim));
    l.schedule = l.virtual_stages > 1 ? Schedule::Interleaved : Schedule::OneFOneB;
    ic.measured_s = need_positive(c, "measured_s", name, 1e9);
    {
      Diagnostics d;
      validate(l, ic.model, cluster, ic.training, d);
      d.throw_if_errors("published file: case " + brief(name, 60));
    }
    ic.predicted = predict(ic.model, cluster, ic.training, l);
    ic.label = name + " " + std::to_string(l.gpus()) + " GPUs tp" + std::to_string(l.tp) + " pp" +
               std::to_string(l.pp) + " " + to_string(l.recompute) +
               (l.sequence_parallel ? "+sp" : "") +
               (l.virtual_stages > 1 ? " v" + std::to_string(l.virtual_stages) : "");
    sum_abs += std::fabs(ic.error());
    r.iteration_max_abs_error = std::max(r.iteration_max_abs_error, std::fabs(ic.error()));
    if (l.recompute == Recompute::Selective) selective_layout[name] = l;
    training_by_model[name] = ic.training;
    r.iterations.push_back(ic);
  }
  if (!r.iterations.empty()) r.iteration_mape = sum_abs / double(r.iterations.size());

  if (pub.contains("memory_per_gpu_GiB")) {
    for (const auto& c : need_array(pub, "memory_per_gpu_GiB", "file")) {
      const std::string name = need_string(c, "model", "memory_per_gpu_GiB[]");
      const std::string mode = need_string(c, "mode", name);
      if (!selective_layout.count(name))
        throw Error("published file: memory case " + name + " has no selective iteration case");
      Layout l = selective_layout[name];
      if (mode == "none") {
        l.recompute = Recompute::None;
        l.sequence_parallel = false;
      }
      const Model m = model_of(models, common, name);
      const Training& t = training_by_model[name];
      // Figure 1 shows the first pipeline stage and counts transformer layers only (its values
      // equal 18 bytes x 12 h^2 x layers/(tp pp) exactly), so compare like with like.
      const MemoryBreakdown mem = memory_per_gpu(m, cluster, t, l, 0);
      const StateBytes sb = state_bytes_per_param(t);
      MemoryCase mc;
      mc.label = name + " " + mode;
      mc.measured_params_optimizer_bytes = need_positive(c, "params_and_optimizer", name, 1e9) * kGiB;
      mc.measured_activation_bytes = need_positive(c, "activations", name, 1e9) * kGiB;
      mc.predicted_params_optimizer_bytes = mem.layer_params * (sb.params + sb.grads + sb.optimizer);
      mc.predicted_activation_bytes = mem.layer_activations;
      r.params_max_abs_error = std::max(r.params_max_abs_error, std::fabs(mc.params_error()));
      r.activation_max_abs_error =
          std::max(r.activation_max_abs_error, std::fabs(mc.activation_error()));
      r.memory.push_back(mc);
    }
  }
  return r;
}

}  // namespace parplan::cost
