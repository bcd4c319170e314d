#include "parplan/model/training.hpp"

#include <algorithm>
#include <iterator>

#include <nlohmann/json.hpp>

#include "json_reader.hpp"

namespace parplan {

const char* to_string(DType t) {
  switch (t) {
    case DType::BF16: return "bf16";
    case DType::FP16: return "fp16";
    case DType::TF32: return "tf32";
    case DType::FP32: return "fp32";
    case DType::FP8: return "fp8";
    case DType::MXFP8: return "mxfp8";
    case DType::NVFP4: return "nvfp4";
  }
  return "?";
}

const char* to_string(Fp8Recipe r) {
  switch (r) {
    case Fp8Recipe::Delayed: return "delayed";
    case Fp8Recipe::Current: return "current";
    case Fp8Recipe::Blockwise: return "blockwise";
    case Fp8Recipe::Mxfp8: return "mxfp8";
    case Fp8Recipe::Nvfp4: return "nvfp4";
  }
  return "?";
}

const char* to_string(Switch s) {
  switch (s) {
    case Switch::Default: return "default";
    case Switch::Off: return "off";
    case Switch::On: return "on";
  }
  return "?";
}

bool parse_fp8_recipe(const std::string& s, Fp8Recipe& out) {
  if (s == "delayed" || s == "tensorwise-delayed") out = Fp8Recipe::Delayed;
  else if (s == "current" || s == "tensorwise") out = Fp8Recipe::Current;
  else if (s == "blockwise") out = Fp8Recipe::Blockwise;
  else if (s == "mxfp8") out = Fp8Recipe::Mxfp8;
  else if (s == "nvfp4") out = Fp8Recipe::Nvfp4;
  else return false;
  return true;
}

const std::string& Training::framework_name() const {
  static const std::string kDefault = "megatron-core";
  return framework.empty() ? kDefault : framework;
}

namespace {
// A JSON boolean (true/false) for a framework switch; absent keeps the framework's default.
void read_switch(detail::ObjectReader& r, const char* key, Switch& out) {
  bool b = false;
  if (!r.has(key)) {
    r.skip(key);
    return;
  }
  r.boolean(key, b, false);
  out = b ? Switch::On : Switch::Off;
}
}  // namespace

const char* to_string(Optimizer o) { return o == Optimizer::Adam ? "adam" : "sgd"; }

bool parse_dtype(const std::string& s, DType& out) {
  if (s == "bf16") out = DType::BF16;
  else if (s == "fp16") out = DType::FP16;
  else if (s == "tf32") out = DType::TF32;
  else if (s == "fp32") out = DType::FP32;
  else if (s == "fp8") out = DType::FP8;
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
  r.choice("dtype", t.dtype, false, parse_dtype, "bf16, fp16, tf32, fp32, fp8");
  r.choice("fp8_recipe", t.fp8_recipe, false, parse_fp8_recipe,
           "delayed, current, blockwise, mxfp8, nvfp4");
  if (r.string("fp8_format", t.fp8_format, false) && t.fp8_format != "hybrid" &&
      t.fp8_format != "e4m3")
    d.error(r.field("fp8_format"), "unknown value \"" + t.fp8_format + "\"; use hybrid or e4m3");
  read_switch(r, "fp8_param_gather", t.fp8_param_gather);
  r.choice("optimizer", t.optimizer, false, parse_optimizer, "adam, adamw, sgd");
  r.number("learning_rate", t.learning_rate, false, 0.0, 1e3);
  r.integer("base_batch", t.base_batch, false, 0, 1'000'000'000);
  r.boolean("fp32_grad_accum", t.fp32_grad_accum, false);
  std::string attention = "flash";
  if (r.string("attention", attention, false) && attention != "flash" && attention != "standard")
    d.error(r.field("attention"), "unknown value \"" + attention + "\"; use flash or standard");
  t.flash_attention = attention == "flash";
  r.string("framework", t.framework, false);
  read_switch(r, "tp_comm_overlap", t.tp_comm_overlap);
  read_switch(r, "overlap_grad_reduce", t.overlap_grad_reduce);
  read_switch(r, "overlap_param_gather", t.overlap_param_gather);
  read_switch(r, "moe_a2a_overlap", t.moe_a2a_overlap);
  read_switch(r, "compile", t.compile);
  if (r.has("cuda_graph_scope")) {
    r.skip("cuda_graph_scope");
    const nlohmann::json& gs = j["cuda_graph_scope"];
    static const char* const kScopes[] = {"attn", "mlp", "moe", "moe_router", "moe_preprocess"};
    const std::string allowed = "attn, mlp, moe, moe_router, moe_preprocess";
    if (!gs.is_array() || gs.size() > 5) {
      d.error(r.field("cuda_graph_scope"), "must be a list of scope names (" + allowed + ")");
    } else {
      for (const auto& e : gs) {
        const std::string s = e.is_string() ? e.get<std::string>() : std::string();
        if (std::find(std::begin(kScopes), std::end(kScopes), s) == std::end(kScopes))
          d.error(r.field("cuda_graph_scope"),
                  "unknown scope " + (e.is_string() ? "\"" + s + "\"" : e.dump()) + "; use " + allowed);
        else if (std::find(t.cuda_graph_scope.begin(), t.cuda_graph_scope.end(), s) ==
                 t.cuda_graph_scope.end())
          t.cuda_graph_scope.push_back(s);
      }
    }
  }
  r.number("tokens", t.tokens, false, 0, 1e18, 1.0, true);
  if (r.has("batch_ramp")) {
    r.skip("batch_ramp");
    const nlohmann::json& br = j["batch_ramp"];
    if (!br.is_array() || br.size() > 1000) {
      d.error(r.field("batch_ramp"),
              "must be an array (at most 1000) of {\"tokens\": N, \"global_batch\": B}");
    } else {
      for (size_t i = 0; i < br.size(); ++i) {
        detail::ObjectReader rs(br[i], d, r.field("batch_ramp") + "[" + std::to_string(i) + "]");
        BatchStage st;
        rs.number("tokens", st.tokens, true, 0, 1e18);
        rs.integer("global_batch", st.global_batch, true, 1, 1'000'000'000);
        rs.warn_unknown();
        t.batch_ramp.push_back(st);
      }
    }
  }
  r.string("lr_schedule", t.lr_schedule, false);
  r.boolean("async_checkpoint", t.async_checkpoint, false);
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
  if (t.fp8()) {
    j["fp8_recipe"] = to_string(t.fp8_recipe);
    j["fp8_format"] = t.fp8_format;
  }
  if (!t.framework.empty()) j["framework"] = t.framework;
  auto sw = [&](const char* key, Switch s) {
    if (s != Switch::Default) j[key] = s == Switch::On;
  };
  sw("tp_comm_overlap", t.tp_comm_overlap);
  sw("overlap_grad_reduce", t.overlap_grad_reduce);
  sw("overlap_param_gather", t.overlap_param_gather);
  sw("moe_a2a_overlap", t.moe_a2a_overlap);
  sw("compile", t.compile);
  sw("fp8_param_gather", t.fp8_param_gather);
  if (!t.cuda_graph_scope.empty()) j["cuda_graph_scope"] = t.cuda_graph_scope;
  if (t.tokens > 0) j["tokens"] = t.tokens;
  if (!t.batch_ramp.empty()) {
    nlohmann::json br = nlohmann::json::array();
    for (const auto& st : t.batch_ramp)
      br.push_back({{"tokens", st.tokens}, {"global_batch", st.global_batch}});
    j["batch_ramp"] = br;
  }
  if (!t.lr_schedule.empty()) j["lr_schedule"] = t.lr_schedule;
  if (t.async_checkpoint) j["async_checkpoint"] = true;
  return j;
}

}  // namespace parplan
