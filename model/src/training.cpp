#include "parplan/model/training.hpp"

#include <nlohmann/json.hpp>

#include "json_reader.hpp"

namespace parplan {

const char* to_string(DType t) {
  switch (t) {
    case DType::BF16: return "bf16";
    case DType::FP16: return "fp16";
    case DType::TF32: return "tf32";
    case DType::FP32: return "fp32";
  }
  return "?";
}

const char* to_string(Optimizer o) { return o == Optimizer::Adam ? "adam" : "sgd"; }

bool parse_dtype(const std::string& s, DType& out) {
  if (s == "bf16") out = DType::BF16;
  else if (s == "fp16") out = DType::FP16;
  else if (s == "tf32") out = DType::TF32;
  else if (s == "fp32") out = DType::FP32;
  else return false;
  return true;
}

static bool parse_optimizer(const std::string& s, Optimizer& out) {
  if (s == "adam" || s == "adamw") out = Optimizer::Adam;
  else if (s == "sgd") out = Optimizer::Sgd;
  else return false;
  return true;
}

Training training_from_json(const nlohmann::json& j, Diagnostics& d, const std::string& prefix) {
  Training t;
  detail::ObjectReader r(j, d, prefix);
  r.integer("global_batch", t.global_batch, true, 1, 1'000'000'000);
  r.integer("seq_len", t.seq_len, true, 1, 100'000'000);
  r.choice("dtype", t.dtype, false, parse_dtype, "bf16, fp16, tf32, fp32");
  r.choice("optimizer", t.optimizer, false, parse_optimizer, "adam, adamw, sgd");
  r.number("learning_rate", t.learning_rate, false, 0.0, 1e3);
  r.integer("base_batch", t.base_batch, false, 0, 1'000'000'000);
  r.boolean("fp32_grad_accum", t.fp32_grad_accum, false);
  std::string attention = "flash";
  if (r.string("attention", attention, false) && attention != "flash" && attention != "standard")
    d.error(r.field("attention"), "unknown value \"" + attention + "\"; use flash or standard");
  t.flash_attention = attention == "flash";
  r.skip("name");
  r.skip("description");
  r.warn_unknown();
  if (d.ok()) validate(t, d, prefix);
  return t;
}

void validate(const Training& t, Diagnostics& d, const std::string& p) {
  if (t.global_batch < 1) d.error(p + ".global_batch", "must be >= 1");
  if (t.seq_len < 1) d.error(p + ".seq_len", "must be >= 1");
  if (!(t.learning_rate > 0)) d.error(p + ".learning_rate", "must be > 0");
}

nlohmann::json to_json(const Training& t) {
  nlohmann::json j = {{"global_batch", t.global_batch}, {"seq_len", t.seq_len},
                      {"dtype", to_string(t.dtype)},    {"optimizer", to_string(t.optimizer)},
                      {"learning_rate", t.learning_rate}};
  if (t.base_batch > 0) j["base_batch"] = t.base_batch;
  j["fp32_grad_accum"] = t.fp32_grad_accum;
  j["attention"] = t.flash_attention ? "flash" : "standard";
  return j;
}

}  // namespace parplan
