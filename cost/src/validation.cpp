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

const nlohmann::json& need(const nlohmann::json& j, const char* key, const std::string& where) {
  if (!j.is_object() || !j.contains(key))
    throw Error("published file: " + where + "." + key + " is missing");
  return j.at(key);
}

Model model_of(const nlohmann::json& models, const nlohmann::json& common, const std::string& name) {
  const nlohmann::json& mj = need(models, name.c_str(), "models");
  Model m;
  m.name = name;
  m.layers = need(mj, "layers", name).get<int64_t>();
  m.hidden = need(mj, "hidden", name).get<int64_t>();
  m.heads = need(mj, "heads", name).get<int64_t>();
  m.kv_heads = m.heads;
  m.ffn_hidden = mj.value("ffn_hidden", 4 * m.hidden);
  m.vocab = mj.value("vocab", common.value("vocab", int64_t(51200)));
  m.max_seq_len = common.value("seq_len", int64_t(2048));
  return m;
}

// Megatron-LM as the paper ran it: fp16 with fp32 gradient accumulation, no flash attention.
Training training_of(const nlohmann::json& common, int64_t global_batch) {
  Training t;
  t.global_batch = global_batch;
  t.seq_len = common.value("seq_len", int64_t(2048));
  DType dt = DType::FP16;
  parse_dtype(common.value("dtype", std::string("fp16")), dt);
  t.dtype = dt;
  t.fp32_grad_accum = true;
  t.flash_attention = false;
  return t;
}
}  // namespace

ValidationReport validate_published(const nlohmann::json& pub, const Cluster& cluster) {
  ValidationReport r;
  r.source = pub.value("source", std::string("(no source)"));
  const nlohmann::json& common = need(pub, "common", "file");
  const nlohmann::json& models = need(pub, "models", "file");
  std::map<std::string, Layout> selective_layout;  // memory cases reuse the seqsel layout
  std::map<std::string, Training> training_by_model;
  double sum_abs = 0;
  for (const auto& c : need(pub, "iteration_time_s", "file")) {
    IterationCase ic;
    const std::string name = need(c, "model", "iteration_time_s[]").get<std::string>();
    ic.model = model_of(models, common, name);
    ic.training = training_of(common, need(c, "global_batch", name).get<int64_t>());
    Layout& l = ic.layout;
    l.tp = need(c, "tp", name).get<int32_t>();
    l.pp = need(c, "pp", name).get<int32_t>();
    l.dp = int32_t(need(c, "gpus", name).get<int64_t>() / (int64_t(l.tp) * l.pp));
    l.micro_batch = need(c, "micro_batch", name).get<int32_t>();
    l.zero = common.value("zero", 0);
    parse_recompute(need(c, "recompute", name).get<std::string>(), l.recompute);
    l.sequence_parallel = c.value("sequence_parallel", false);
    l.virtual_stages = c.value("virtual_stages", 1);
    l.schedule = l.virtual_stages > 1 ? Schedule::Interleaved : Schedule::OneFOneB;
    ic.measured_s = need(c, "measured_s", name).get<double>();
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
    for (const auto& c : pub["memory_per_gpu_GiB"]) {
      const std::string name = need(c, "model", "memory_per_gpu_GiB[]").get<std::string>();
      const std::string mode = need(c, "mode", name).get<std::string>();
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
      mc.measured_params_optimizer_bytes = need(c, "params_and_optimizer", name).get<double>() * kGiB;
      mc.measured_activation_bytes = need(c, "activations", name).get<double>() * kGiB;
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
