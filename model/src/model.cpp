#include "parplan/model/model.hpp"

#include <nlohmann/json.hpp>

#include "json_reader.hpp"

namespace parplan {

namespace {
constexpr int64_t kMaxLayers = 10'000;
constexpr int64_t kMaxHidden = 1'000'000;
constexpr int64_t kMaxVocab = 100'000'000;
constexpr int64_t kMaxSeq = 100'000'000;

// Hugging Face config.json: GPT-2 (n_embd/n_head/n_layer/n_positions) or Llama/Mistral/Mixtral
// (hidden_size/num_attention_heads/num_key_value_heads/num_hidden_layers/intermediate_size).
Model from_hf(const nlohmann::json& j, Diagnostics& d, const std::string& prefix) {
  Model m;
  detail::ObjectReader r(j, d, prefix);
  auto pick = [&](const char* a, const char* b, int64_t& out, bool required, int64_t hi) {
    if (r.has(a)) r.integer(a, out, true, 1, hi);
    else if (b && r.has(b)) r.integer(b, out, true, 1, hi);
    else if (required) d.error(prefix + "." + a, std::string("is missing (Hugging Face config)") + (b ? std::string("; also accepted: ") + b : ""));
  };
  std::string name;
  if (r.string("_name_or_path", name, false) && !name.empty()) m.name = name;
  else if (r.string("model_type", name, false)) m.name = name;
  pick("hidden_size", "n_embd", m.hidden, true, kMaxHidden);
  pick("num_attention_heads", "n_head", m.heads, true, kMaxHidden);
  pick("num_hidden_layers", "n_layer", m.layers, true, kMaxLayers);
  pick("vocab_size", nullptr, m.vocab, true, kMaxVocab);
  pick("max_position_embeddings", "n_positions", m.max_seq_len, false, kMaxSeq);
  if (m.max_seq_len == 0 && r.has("n_ctx")) r.integer("n_ctx", m.max_seq_len, true, 1, kMaxSeq);
  m.kv_heads = m.heads;
  if (r.has("num_key_value_heads")) r.integer("num_key_value_heads", m.kv_heads, true, 1, kMaxHidden);
  m.ffn_hidden = 4 * m.hidden;
  if (r.has("intermediate_size")) r.integer("intermediate_size", m.ffn_hidden, true, 1, 100 * kMaxHidden);
  else if (r.has("n_inner")) r.integer("n_inner", m.ffn_hidden, false, 1, 100 * kMaxHidden);
  std::string act;
  r.string("hidden_act", act, false);
  // Llama/Mistral use SiLU-gated MLPs (three matrices); GPT-2 uses GELU (two).
  m.gated_mlp = (act == "silu" || act == "swiglu");
  std::string type;
  bool gpt2 = r.has("n_embd") || (j.contains("model_type") && j["model_type"] == "gpt2");
  m.tied_embeddings = gpt2;
  if (r.has("tie_word_embeddings")) r.boolean("tie_word_embeddings", m.tied_embeddings, false);
  if (m.max_seq_len == 0) m.max_seq_len = 2048;
  return m;
}
}  // namespace

bool is_hf_config(const nlohmann::json& j) {
  return j.is_object() && (j.contains("hidden_size") || j.contains("n_embd") ||
                           j.contains("num_hidden_layers") || j.contains("n_layer"));
}

Model model_from_json(const nlohmann::json& j, Diagnostics& d, const std::string& prefix) {
  if (is_hf_config(j)) {
    Model m = from_hf(j, d, prefix);
    validate(m, d, prefix);
    return m;
  }
  Model m;
  detail::ObjectReader r(j, d, prefix);
  r.string("name", m.name, false);
  r.integer("layers", m.layers, true, 1, kMaxLayers);
  r.integer("hidden", m.hidden, true, 1, kMaxHidden);
  r.integer("heads", m.heads, true, 1, kMaxHidden);
  m.kv_heads = m.heads;
  r.integer("kv_heads", m.kv_heads, false, 1, kMaxHidden);
  m.ffn_hidden = 4 * m.hidden;
  r.integer("ffn_hidden", m.ffn_hidden, false, 1, 100 * kMaxHidden);
  r.integer("vocab", m.vocab, true, 1, kMaxVocab);
  m.max_seq_len = 2048;
  r.integer("max_seq_len", m.max_seq_len, false, 1, kMaxSeq);
  r.boolean("tied_embeddings", m.tied_embeddings, false);
  r.boolean("gated_mlp", m.gated_mlp, false);
  r.skip("source");
  r.skip("description");
  r.warn_unknown();
  if (d.ok()) validate(m, d, prefix);
  return m;
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
  if (m.heads >= 1 && m.hidden >= 1 && m.hidden % m.heads != 0)
    d.error(p + ".hidden", "must be divisible by heads (" + std::to_string(m.hidden) + " % " +
                               std::to_string(m.heads) + " != 0); pick heads that divide hidden");
  if (m.kv_heads < 1 || (m.heads >= 1 && m.kv_heads > m.heads))
    d.error(p + ".kv_heads", "must be between 1 and heads (" + std::to_string(m.heads) + ")");
  else if (m.heads % m.kv_heads != 0)
    d.error(p + ".kv_heads", "must divide heads (" + std::to_string(m.heads) + ")");
}

nlohmann::json to_json(const Model& m) {
  return {{"name", m.name},         {"layers", m.layers},
          {"hidden", m.hidden},     {"heads", m.heads},
          {"kv_heads", m.kv_heads}, {"ffn_hidden", m.ffn_hidden},
          {"vocab", m.vocab},       {"max_seq_len", m.max_seq_len},
          {"tied_embeddings", m.tied_embeddings}, {"gated_mlp", m.gated_mlp}};
}

}  // namespace parplan
