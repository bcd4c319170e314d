#include "parplan/model/model.hpp"

#include <algorithm>
#include <nlohmann/json.hpp>

#include "hf.hpp"
#include "json_reader.hpp"

namespace parplan {

namespace {
constexpr int64_t kMaxLayers = 10'000;
constexpr int64_t kMaxHidden = 1'000'000;
constexpr int64_t kMaxVocab = 100'000'000;
constexpr int64_t kMaxSeq = 100'000'000;

// The old convention, kept as the default: a gated MLP means a Llama-style model (RoPE, RMSNorm,
// no biases), a plain MLP a GPT-style one (learned positions, LayerNorm, biases).
void apply_style_defaults(Model& m) {
  const bool llama_style = m.gated_mlp;
  m.position = llama_style ? Position::Rotary : Position::Learned;
  m.norm = llama_style ? Norm::RMSNorm : Norm::LayerNorm;
  m.qkv_bias = m.linear_bias = m.norm_bias = !llama_style;
}

}  // namespace

bool is_hf_config(const nlohmann::json& j) {
  return j.is_object() && (j.contains("hidden_size") || j.contains("n_embd") ||
                           j.contains("num_hidden_layers") || j.contains("n_layer") ||
                           j.contains("text_config"));
}

Model model_from_json(const nlohmann::json& j, Diagnostics& d, const std::string& prefix) {
  if (is_hf_config(j)) {
    Model m = detail::model_from_hf(j, d, prefix);
    if (d.ok()) validate(m, d, prefix);
    return m;
  }
  Model m;
  detail::ObjectReader r(j, d, prefix);
  r.string("name", m.name, false);
  r.string("model_type", m.model_type, false);
  r.integer("layers", m.layers, true, 1, kMaxLayers);
  r.integer("hidden", m.hidden, true, 1, kMaxHidden);
  r.integer("heads", m.heads, true, 1, kMaxHidden);
  m.kv_heads = m.heads;
  r.integer("kv_heads", m.kv_heads, false, 1, kMaxHidden);
  r.integer("head_dim", m.head_dim_explicit, false, 1, kMaxHidden);
  m.ffn_hidden = 4 * m.hidden;
  r.integer("ffn_hidden", m.ffn_hidden, false, 1, 100 * kMaxHidden);
  r.integer("vocab", m.vocab, true, 1, kMaxVocab);
  m.max_seq_len = 2048;
  r.integer("max_seq_len", m.max_seq_len, false, 1, kMaxSeq);
  r.boolean("tied_embeddings", m.tied_embeddings, false);
  r.boolean("gated_mlp", m.gated_mlp, false);
  r.string("activation", m.activation, false);
  apply_style_defaults(m);
  r.choice("position", m.position, false, parse_position, "learned, rotary, none");
  r.number("rotary_base", m.rotary_base, false, 0, 1e12);
  r.string("rope_scaling", m.rope_scaling, false);
  r.number("rope_scaling_factor", m.rope_scaling_factor, false, 0, 1e6, 1.0, true);
  r.choice("norm", m.norm, false, parse_norm, "layernorm, rmsnorm");
  r.boolean("qkv_bias", m.qkv_bias, false);
  r.boolean("linear_bias", m.linear_bias, false);
  r.boolean("norm_bias", m.norm_bias, false);
  if (m.norm == Norm::RMSNorm) m.norm_bias = false;
  r.boolean("qk_norm", m.qk_norm, false);
  r.boolean("parallel_residual", m.parallel_residual, false);
  r.integer("sliding_window", m.sliding_window, false, 0, kMaxSeq);
  r.integer("sliding_window_pattern", m.sliding_window_pattern, false, 1, kMaxLayers);
  r.integer("mtp_layers", m.mtp_layers, false, 0, 64);
  if (const auto* mo = r.object("moe", false)) {
    detail::ObjectReader rm(*mo, d, prefix + ".moe");
    rm.integer("experts", m.moe.experts, true, 1, 1'000'000);
    rm.integer("experts_per_token", m.moe.experts_per_token, true, 1, 1'000'000);
    rm.integer("expert_ffn_hidden", m.moe.expert_ffn_hidden, false, 1, 100 * kMaxHidden);
    rm.integer("shared_experts", m.moe.shared_experts, false, 0, 1'000'000);
    rm.integer("shared_expert_ffn_hidden", m.moe.shared_expert_ffn_hidden, false, 1,
               100 * kMaxHidden);
    rm.integer("first_dense_layers", m.moe.first_dense_layers, false, 0, kMaxLayers);
    rm.integer("layer_freq", m.moe.layer_freq, false, 1, kMaxLayers);
    rm.number("capacity_factor", m.moe.capacity_factor, false, 0, 1e3, 1.0, true);
    rm.number("load_imbalance", m.moe.load_imbalance, false, 0, 1e3, 1.0, true);
    rm.boolean("router_bias", m.moe.router_bias, false);
    rm.integer("groups", m.moe.groups, false, 0, 1'000'000);
    rm.integer("groups_per_token", m.moe.groups_per_token, false, 0, 1'000'000);
    rm.skip("source");
    rm.warn_unknown();
    if (m.moe.expert_ffn_hidden == 0) m.moe.expert_ffn_hidden = m.ffn_hidden;
    if (m.moe.shared_experts > 0 && m.moe.shared_expert_ffn_hidden == 0)
      m.moe.shared_expert_ffn_hidden = m.moe.expert_ffn_hidden;
  }
  if (const auto* ml = r.object("mla", false)) {
    detail::ObjectReader rl(*ml, d, prefix + ".mla");
    rl.integer("q_lora_rank", m.mla.q_lora_rank, false, 0, kMaxHidden);
    rl.integer("kv_lora_rank", m.mla.kv_lora_rank, true, 1, kMaxHidden);
    rl.integer("qk_nope_head_dim", m.mla.qk_nope_head_dim, true, 1, kMaxHidden);
    rl.integer("qk_rope_head_dim", m.mla.qk_rope_head_dim, true, 1, kMaxHidden);
    rl.integer("v_head_dim", m.mla.v_head_dim, true, 1, kMaxHidden);
    rl.warn_unknown();
  }
  r.skip("source");
  r.skip("description");
  r.warn_unknown();
  if (d.ok()) validate(m, d, prefix);
  return m;
}

int64_t Model::moe_layers() const {
  // The layers is_moe_layer() accepts, counted in closed form (the cost model asks often): every
  // freq-th layer from the first one at or after first_dense_layers.
  if (!moe.enabled()) return 0;
  const int64_t fd = moe.first_dense_layers, freq = std::max<int64_t>(1, moe.layer_freq);
  const int64_t from = std::max<int64_t>(0, fd);
  const int64_t first = fd + (from - fd + freq - 1) / freq * freq;
  return first < layers ? (layers - 1 - first) / freq + 1 : 0;
}

void validate(const Model& m, Diagnostics& d, const std::string& p) {
  if (m.layers < 1 || m.layers > kMaxLayers)
    d.error(p + ".layers", "must be between 1 and " + std::to_string(kMaxLayers));
  if (m.hidden < 1 || m.hidden > kMaxHidden)
    d.error(p + ".hidden", "must be between 1 and " + std::to_string(kMaxHidden));
  if (m.heads < 1) d.error(p + ".heads", "must be >= 1");
  if (m.vocab < 1) d.error(p + ".vocab", "must be >= 1");
  if (m.max_seq_len < 1) d.error(p + ".max_seq_len", "must be >= 1");
  if (m.ffn_hidden < 1) d.error(p + ".ffn_hidden", "must be >= 1");
  // With an explicit head_dim (Gemma, gpt-oss) or MLA the heads need not divide hidden.
  if (m.heads >= 1 && m.hidden >= 1 && m.hidden % m.heads != 0 && m.head_dim_explicit == 0 &&
      !m.mla.enabled())
    d.error(p + ".hidden", "must be divisible by heads (" + std::to_string(m.hidden) + " % " +
                               std::to_string(m.heads) + " != 0); pick heads that divide hidden");
  if (m.kv_heads < 1 || (m.heads >= 1 && m.kv_heads > m.heads))
    d.error(p + ".kv_heads", "must be between 1 and heads (" + std::to_string(m.heads) + ")");
  else if (m.heads % m.kv_heads != 0)
    d.error(p + ".kv_heads", "must divide heads (" + std::to_string(m.heads) + ")");
  if (m.moe.enabled()) {
    if (m.moe.experts_per_token < 1 || m.moe.experts_per_token > m.moe.experts)
      d.error(p + ".moe.experts_per_token",
              "must be between 1 and moe.experts (" + std::to_string(m.moe.experts) + ")");
    if (m.moe.first_dense_layers >= m.layers)
      d.error(p + ".moe.first_dense_layers", "must be below layers (" + std::to_string(m.layers) +
                                                 "); set it lower or drop the moe block");
    if (m.moe.capacity_factor > 0 && m.moe.capacity_factor < 1)
      d.error(p + ".moe.capacity_factor", "must be 0 (dropless) or >= 1");
    if (m.moe.load_imbalance > 0 && m.moe.load_imbalance < 1)
      d.error(p + ".moe.load_imbalance", "must be 0 (default) or >= 1 (max over mean tokens)");
  }
  if (m.sliding_window > 0 && m.sliding_window_pattern < 1)
    d.error(p + ".sliding_window_pattern", "must be >= 1");
}

nlohmann::json to_json(const Model& m) {
  nlohmann::json j = {{"name", m.name},         {"layers", m.layers},
                      {"hidden", m.hidden},     {"heads", m.heads},
                      {"kv_heads", m.kv_heads}, {"ffn_hidden", m.ffn_hidden},
                      {"vocab", m.vocab},       {"max_seq_len", m.max_seq_len},
                      {"tied_embeddings", m.tied_embeddings}, {"gated_mlp", m.gated_mlp}};
  if (!m.model_type.empty()) j["model_type"] = m.model_type;
  if (m.head_dim_explicit > 0) j["head_dim"] = m.head_dim_explicit;
  if (!m.activation.empty()) j["activation"] = m.activation;
  j["position"] = to_string(m.position);
  if (m.position == Position::Rotary) j["rotary_base"] = m.rotary_base;
  if (!m.rope_scaling.empty()) {
    j["rope_scaling"] = m.rope_scaling;
    j["rope_scaling_factor"] = m.rope_scaling_factor;
  }
  j["norm"] = to_string(m.norm);
  j["qkv_bias"] = m.qkv_bias;
  j["linear_bias"] = m.linear_bias;
  j["norm_bias"] = m.norm_bias;
  if (m.qk_norm) j["qk_norm"] = true;
  if (m.parallel_residual) j["parallel_residual"] = true;
  if (m.sliding_window > 0) {
    j["sliding_window"] = m.sliding_window;
    j["sliding_window_pattern"] = m.sliding_window_pattern;
  }
  if (m.mtp_layers > 0) j["mtp_layers"] = m.mtp_layers;
  if (m.moe.enabled()) {
    nlohmann::json mo = {{"experts", m.moe.experts},
                         {"experts_per_token", m.moe.experts_per_token},
                         {"expert_ffn_hidden", m.moe.expert_ffn_hidden},
                         {"first_dense_layers", m.moe.first_dense_layers},
                         {"layer_freq", m.moe.layer_freq},
                         {"capacity_factor", m.moe.capacity_factor},
                         {"load_imbalance", m.moe.load_imbalance}};
    if (m.moe.shared_experts > 0) {
      mo["shared_experts"] = m.moe.shared_experts;
      mo["shared_expert_ffn_hidden"] = m.moe.shared_expert_ffn_hidden;
    }
    if (m.moe.router_bias) mo["router_bias"] = true;
    if (m.moe.groups_per_token > 0) {
      mo["groups"] = m.moe.groups;
      mo["groups_per_token"] = m.moe.groups_per_token;
    }
    j["moe"] = mo;
  }
  if (m.mla.enabled())
    j["mla"] = {{"q_lora_rank", m.mla.q_lora_rank},
                {"kv_lora_rank", m.mla.kv_lora_rank},
                {"qk_nope_head_dim", m.mla.qk_nope_head_dim},
                {"qk_rope_head_dim", m.mla.qk_rope_head_dim},
                {"v_head_dim", m.mla.v_head_dim}};
  return j;
}

const char* to_string(Position p) {
  switch (p) {
    case Position::Learned: return "learned";
    case Position::Rotary: return "rotary";
    case Position::None: return "none";
  }
  return "?";
}
const char* to_string(Norm n) { return n == Norm::RMSNorm ? "rmsnorm" : "layernorm"; }
bool parse_position(const std::string& s, Position& out) {
  if (s == "learned" || s == "learned_absolute") out = Position::Learned;
  else if (s == "rotary" || s == "rope") out = Position::Rotary;
  else if (s == "none" || s == "alibi") out = Position::None;
  else return false;
  return true;
}
bool parse_norm(const std::string& s, Norm& out) {
  if (s == "layernorm" || s == "LayerNorm") out = Norm::LayerNorm;
  else if (s == "rmsnorm" || s == "RMSNorm") out = Norm::RMSNorm;
  else return false;
  return true;
}

}  // namespace parplan
