// Hugging Face config.json -> Model. Each model_type's defaults follow its transformers
// configuration_<type>.py and modeling_<type>.py (the keys a config omits take those defaults);
// tests/data/hf/ holds a real config.json for each type with its source.
#include "hf.hpp"

#include <algorithm>
#include <cstring>
#include <set>

#include <nlohmann/json.hpp>

#include "json_reader.hpp"

namespace parplan::detail {

namespace {
constexpr int64_t kMaxLayers = 10'000;
constexpr int64_t kMaxHidden = 1'000'000;
constexpr int64_t kMaxVocab = 100'000'000;
constexpr int64_t kMaxSeq = 100'000'000;
constexpr int64_t kMaxExperts = 1'000'000;

// What a model_type's modeling code does when its config says nothing.
struct TypeDefaults {
  const char* type;
  bool gated;            // SwiGLU/GeGLU (three FFN matrices) vs plain two-matrix MLP
  const char* activation;
  Norm norm;
  Position position;
  bool qkv_bias, linear_bias;
  bool tied;              // tie_word_embeddings default of the config class
  bool parallel_residual;
  bool qk_norm;
  int64_t sliding_pattern;  // 0: sliding_window (if set) on every layer; N: N-1 of N local
  // Keys of this type that change neither parameters, FLOPs nor memory (routing details, loss
  // coefficients, numerics). Everything else unread warns.
  std::vector<const char*> harmless;
};

const std::vector<const char*> kMoeRouting = {
    "router_aux_loss_coef", "output_router_logits", "router_jitter_noise", "norm_topk_prob",
    "router_z_loss_coef"};

const std::vector<TypeDefaults>& types() {
  static const std::vector<TypeDefaults> t = {
      {"llama", true, "silu", Norm::RMSNorm, Position::Rotary, false, false, false, false, false, 0,
       {"pretraining_tp"}},
      {"mistral", true, "silu", Norm::RMSNorm, Position::Rotary, false, false, false, false, false,
       0, {}},
      {"mixtral", true, "silu", Norm::RMSNorm, Position::Rotary, false, false, false, false, false,
       0, kMoeRouting},
      {"qwen2", true, "silu", Norm::RMSNorm, Position::Rotary, true, false, false, false, false, 0,
       {}},
      {"qwen2_moe", true, "silu", Norm::RMSNorm, Position::Rotary, true, false, false, false, false,
       0, kMoeRouting},
      {"qwen3", true, "silu", Norm::RMSNorm, Position::Rotary, false, false, false, false, true, 0,
       {}},
      {"qwen3_moe", true, "silu", Norm::RMSNorm, Position::Rotary, false, false, false, false, true,
       0, kMoeRouting},
      // Gemma: GeGLU, head_dim 256, embeddings tied and scaled by sqrt(hidden) (no parameters).
      {"gemma", true, "gelu_pytorch_tanh", Norm::RMSNorm, Position::Rotary, false, false, true,
       false, false, 0, {}},
      {"gemma2", true, "gelu_pytorch_tanh", Norm::RMSNorm, Position::Rotary, false, false, true,
       false, false, 2,
       {"attn_logit_softcapping", "final_logit_softcapping", "query_pre_attn_scalar"}},
      {"gemma3_text", true, "gelu_pytorch_tanh", Norm::RMSNorm, Position::Rotary, false, false,
       true, false, true, 6,
       {"attn_logit_softcapping", "final_logit_softcapping", "query_pre_attn_scalar",
        "rope_local_base_freq"}},
      {"phi3", true, "silu", Norm::RMSNorm, Position::Rotary, false, false, false, false, false, 0,
       {"original_max_position_embeddings", "embd_pdrop", "resid_pdrop", "partial_rotary_factor"}},
      {"falcon", false, "gelu", Norm::LayerNorm, Position::Rotary, false, false, true, false, false,
       0, {"hidden_dropout", "num_ln_in_parallel_attn"}},
      // GPT-NeoX: partial rotary (rotary_pct of each head; no parameters), parallel residual.
      {"gpt_neox", false, "gelu", Norm::LayerNorm, Position::Rotary, true, true, false, true, false,
       0, {"rotary_pct", "classifier_dropout", "hidden_dropout", "use_parallel_residual_dropout"}},
      {"gpt2", false, "gelu_new", Norm::LayerNorm, Position::Learned, true, true, true, false, false,
       0,
       {"n_ctx", "scale_attn_weights", "scale_attn_by_inverse_layer_idx", "reorder_and_upcast_attn",
        "summary_type", "summary_use_proj", "summary_activation", "summary_proj_to_labels",
        "summary_first_dropout", "gradient_checkpointing", "n_special", "predict_special_tokens"}},
      {"deepseek_v2", true, "silu", Norm::RMSNorm, Position::Rotary, false, false, false, false,
       false, 0,
       {"routed_scaling_factor", "scoring_func", "norm_topk_prob", "aux_loss_alpha", "seq_aux",
        "ep_size", "pretraining_tp"}},
      {"deepseek_v3", true, "silu", Norm::RMSNorm, Position::Rotary, false, false, false, false,
       false, 0,
       {"routed_scaling_factor", "scoring_func", "norm_topk_prob", "aux_loss_alpha", "seq_aux",
        "ep_size", "pretraining_tp"}},
      // gpt-oss: attention and expert biases, alternating 128-token sliding windows, yarn RoPE.
      {"gpt_oss", true, "swiglu", Norm::RMSNorm, Position::Rotary, true, true, false, false, false,
       2,
       {"swiglu_limit", "initial_context_length", "router_aux_loss_coef", "output_router_logits"}},
  };
  return t;
}

// Keys of every config.json that change neither parameters, FLOPs nor memory (token ids,
// initialisation, numerics, dropout, generation defaults, bookkeeping).
const std::set<std::string>& common_harmless() {
  static const std::set<std::string> s = {
      "architectures", "torch_dtype", "dtype", "transformers_version", "bos_token_id",
      "eos_token_id", "pad_token_id", "sep_token_id", "decoder_start_token_id",
      "initializer_range", "rms_norm_eps", "layer_norm_eps", "layer_norm_epsilon", "use_cache",
      "attention_dropout", "attn_pdrop", "embd_pdrop", "resid_pdrop", "hidden_dropout_prob",
      "auto_map", "id2label", "label2id", "return_dict", "output_hidden_states",
      "output_attentions", "torchscript", "use_bfloat16", "tf_legacy_loss", "pruned_heads",
      "chunk_size_feed_forward", "is_encoder_decoder", "is_decoder", "cross_attention_hidden_size",
      "add_cross_attention", "tie_encoder_decoder", "max_length", "min_length", "do_sample",
      "early_stopping", "num_beams", "num_beam_groups", "diversity_penalty", "temperature",
      "top_k", "top_p", "typical_p", "repetition_penalty", "length_penalty",
      "no_repeat_ngram_size", "encoder_no_repeat_ngram_size", "bad_words_ids",
      "num_return_sequences", "output_scores", "return_dict_in_generate", "forced_bos_token_id",
      "forced_eos_token_id", "remove_invalid_values", "exponential_decay_length_penalty",
      "suppress_tokens", "begin_suppress_tokens", "finetuning_task", "tokenizer_class", "prefix",
      "problem_type", "task_specific_params", "cache_implementation", "_attn_implementation",
      "attn_implementation", "unsloth_fixed", "unsloth_version"};
  return s;
}

const TypeDefaults* find_type(const std::string& type) {
  const std::string t = type == "gemma3" ? "gemma3_text" : type;
  for (const auto& d : types())
    if (t == d.type) return &d;
  return nullptr;
}

std::string join(const std::vector<std::string>& v) {
  std::string s;
  for (const auto& x : v) s += (s.empty() ? "" : ", ") + brief(x);
  return s;
}

// The strings a config gives that parplan keeps or prints (_name_or_path, model_type, rope_type)
// pass the same checks as every JSON string (json_reader.hpp): at most 4,096 bytes, no control
// characters (an escape sequence would reach the terminal: window title, colours). A bad one is
// an error naming the field; `out` is left as it was.
bool clean_string(const nlohmann::json& v, const std::string& field, Diagnostics& d,
                  std::string& out) {
  if (!v.is_string()) return false;
  const auto& text = v.get_ref<const std::string&>();
  constexpr size_t kMaxString = 4096;
  if (text.size() > kMaxString) {
    d.error(field, "is " + std::to_string(text.size()) + " bytes long; at most " +
                       std::to_string(kMaxString) + " (got \"" + brief(text) + "\")");
    return false;
  }
  for (unsigned char c : text)
    if (c < 0x20 || c == 0x7f) {
      d.error(field, "must not contain control characters (tabs, newlines, escapes), got \"" +
                         brief(text) + "\"");
      return false;
    }
  out = text;
  return true;
}

// rope_scaling / rope_parameters: {"type" | "rope_type": ..., "factor": ..., "rope_theta": ...}.
void read_rope(const nlohmann::json* o, Model& m, Diagnostics& d, const std::string& where) {
  if (!o || !o->is_object()) return;
  for (const char* k : {"rope_type", "type"}) {
    auto it = o->find(k);
    std::string s;
    if (it != o->end() && clean_string(*it, where + "." + k, d, s) && s != "default")
      m.rope_scaling = s;
  }
  auto f = o->find("factor");
  if (f != o->end() && f->is_number() && !m.rope_scaling.empty()) m.rope_scaling_factor = *f;
  auto th = o->find("rope_theta");
  if (th != o->end() && th->is_number()) m.rotary_base = *th;
}

// layer_types (["sliding_attention", "full_attention", ...]) -> window pattern N (N-1 of N local).
void read_layer_types(const nlohmann::json& lt, Model& m, Diagnostics& d, const std::string& f) {
  if (!lt.is_array()) return d.error(f, "must be a list of \"sliding_attention\"/\"full_attention\"");
  int64_t full = 0, local = 0;
  for (const auto& x : lt) {
    if (x == "full_attention") ++full;
    else if (x == "sliding_attention") ++local;
    else return d.warn(f, "has a layer type parplan does not model (" + detail::ObjectReader::describe(x) + "); read as full");
  }
  if (local == 0) m.sliding_window = 0;
  else if (full == 0) m.sliding_window_pattern = 1;
  else m.sliding_window_pattern = std::max<int64_t>(1, (full + local + full / 2) / full);
}
}  // namespace

std::string hf_model_types() {
  std::string s;
  for (const auto& t : types()) s += (s.empty() ? "" : ", ") + std::string(t.type);
  return s + ", gemma3 (text_config)";
}

Model model_from_hf(const nlohmann::json& outer, Diagnostics& d, const std::string& prefix) {
  Model m;
  std::string type;
  if (outer.contains("model_type") && outer["model_type"].is_string())
    clean_string(outer["model_type"], prefix + ".model_type", d, type);
  else if (outer.contains("n_embd")) type = "gpt2";  // GPT-2 configs predate model_type
  // Multimodal wrappers (Gemma 3): the decoder is in text_config.
  const nlohmann::json* jp = &outer;
  std::string path = prefix;
  if (outer.contains("text_config") && outer["text_config"].is_object()) {
    jp = &outer["text_config"];
    path = prefix + ".text_config";
    for (auto it = outer.begin(); it != outer.end(); ++it) {
      const std::string& k = it.key();
      if (k == "vision_config")
        d.warn(prefix + ".vision_config",
               "not used: parplan models the text decoder only (the vision tower's parameters and "
               "FLOPs are left out)");
      else if (k != "text_config" && k != "model_type" && k != "_name_or_path" &&
               !common_harmless().count(k) && k.find("token_index") == std::string::npos &&
               k != "mm_tokens_per_image")
        d.warn(prefix + "." + brief(k), "unknown key of the multimodal wrapper, ignored");
    }
    if (jp->contains("model_type") && (*jp)["model_type"].is_string() && type != "gemma3")
      clean_string((*jp)["model_type"], path + ".model_type", d, type);
  }
  const nlohmann::json& j = *jp;
  ObjectReader r(j, d, path);
  const TypeDefaults* td = find_type(type);
  static const TypeDefaults generic{"", true, "silu", Norm::RMSNorm, Position::Rotary, false,
                                    false, false, false, false, 0, {}};
  const TypeDefaults& t = td ? *td : generic;
  m.model_type = td ? std::string(td->type) : type;
  r.skip("model_type");
  std::string name;
  if (outer.contains("_name_or_path") && outer["_name_or_path"].is_string() &&
      !outer["_name_or_path"].get<std::string>().empty())
    clean_string(outer["_name_or_path"], prefix + "._name_or_path", d, m.name);
  else if (!type.empty())
    m.name = type;
  r.skip("_name_or_path");

  // Defaults of the type, then the keys.
  m.gated_mlp = t.gated;
  m.activation = t.activation;
  m.norm = t.norm;
  m.position = t.position;
  m.qkv_bias = t.qkv_bias;
  m.linear_bias = t.linear_bias;
  m.norm_bias = t.norm == Norm::LayerNorm;
  m.tied_embeddings = t.tied;
  m.parallel_residual = t.parallel_residual;
  m.qk_norm = t.qk_norm;

  auto present = [&](const char* k) { return j.contains(k) && !j[k].is_null(); };
  auto pick = [&](const char* a, const char* b, int64_t& out, bool required, int64_t hi) {
    if (present(a)) r.integer(a, out, true, 1, hi);
    else if (b && present(b)) r.integer(b, out, true, 1, hi);
    else if (required)
      d.error(path + "." + a, std::string("is missing (Hugging Face config)") +
                                  (b ? std::string("; also accepted: ") + b : ""));
    r.skip(a);
    if (b) r.skip(b);
  };
  pick("hidden_size", "n_embd", m.hidden, true, kMaxHidden);
  pick("num_attention_heads", "n_head", m.heads, true, kMaxHidden);
  pick("num_hidden_layers", "n_layer", m.layers, true, kMaxLayers);
  pick("vocab_size", nullptr, m.vocab, true, kMaxVocab);
  pick("max_position_embeddings", "n_positions", m.max_seq_len, false, kMaxSeq);
  if (m.max_seq_len == 0) m.max_seq_len = 2048;
  m.kv_heads = m.heads;
  r.integer("num_key_value_heads", m.kv_heads, false, 1, kMaxHidden);
  r.integer("head_dim", m.head_dim_explicit, false, 1, kMaxHidden);
  m.ffn_hidden = 4 * m.hidden;
  pick("intermediate_size", "n_inner", m.ffn_hidden, false, 100 * kMaxHidden);
  if (present("ffn_hidden_size")) r.integer("ffn_hidden_size", m.ffn_hidden, true, 1, 100 * kMaxHidden);
  for (const char* k : {"hidden_act", "hidden_activation", "activation_function"})
    if (r.has(k)) r.string(k, m.activation, false);
  if (!td && r.has("hidden_act")) m.gated_mlp = m.activation == "silu" || m.activation == "swiglu";
  r.boolean("tie_word_embeddings", m.tied_embeddings, false);
  r.number("rope_theta", m.rotary_base, false, 0, 1e12);
  r.number("rotary_emb_base", m.rotary_base, false, 0, 1e12);
  for (const char* k : {"rope_scaling", "rope_parameters"}) {
    if (!r.has(k)) continue;
    r.skip(k);
    read_rope(&j[k], m, d, r.field(k));
  }
  bool attention_bias = m.qkv_bias;
  if (r.has("attention_bias")) {
    r.boolean("attention_bias", attention_bias, false);
    m.qkv_bias = attention_bias;
    if (m.model_type == "gpt_neox" || m.model_type == "gpt_oss") m.linear_bias = attention_bias;
  }
  r.boolean("mlp_bias", m.linear_bias, false);

  // Sliding-window attention: Qwen2/3 switch it with use_sliding_window; Gemma 2/3 and gpt-oss
  // alternate local and global layers.
  r.integer("sliding_window", m.sliding_window, false, 0, kMaxSeq);
  bool use_sw = true;
  if (r.has("use_sliding_window")) r.boolean("use_sliding_window", use_sw, false);
  r.skip("max_window_layers");  // Qwen: layers from which sliding applies (with use_sliding_window)
  m.sliding_window_pattern = t.sliding_pattern > 0 ? t.sliding_pattern : 1;
  for (const char* k : {"sliding_window_pattern", "_sliding_window_pattern"})
    if (r.has(k)) r.integer(k, m.sliding_window_pattern, false, 1, kMaxLayers);
  if (r.has("layer_types")) {
    r.skip("layer_types");
    if (m.sliding_window > 0) read_layer_types(j["layer_types"], m, d, path + ".layer_types");
  }
  if (!use_sw) m.sliding_window = 0;
  if (m.sliding_window >= m.max_seq_len) m.sliding_window = 0;  // a window of the whole context

  if (m.model_type == "falcon") {
    // modeling_falcon.py: new_decoder_architecture uses num_kv_heads; else multi_query means one.
    bool multi_query = true, new_arch = false, alibi = false, parallel = true, bias = false;
    r.boolean("multi_query", multi_query, false);
    r.boolean("new_decoder_architecture", new_arch, false);
    r.boolean("alibi", alibi, false);
    r.boolean("parallel_attn", parallel, false);
    r.boolean("bias", bias, false);
    int64_t nkv = m.heads;
    r.integer("num_kv_heads", nkv, false, 1, kMaxHidden);
    m.kv_heads = new_arch ? nkv : (multi_query ? 1 : m.heads);
    m.position = alibi ? Position::None : Position::Rotary;
    m.parallel_residual = parallel || new_arch;
    m.qkv_bias = m.linear_bias = bias;
  }
  if (m.model_type == "gpt_neox") r.boolean("use_parallel_residual", m.parallel_residual, false);

  // Mixture of experts.
  MoE& mo = m.moe;
  for (const char* k : {"num_local_experts", "num_experts", "n_routed_experts"})
    if (r.has(k)) r.integer(k, mo.experts, false, 1, kMaxExperts);
  for (const char* k : {"num_experts_per_tok", "experts_per_token"})
    if (r.has(k)) r.integer(k, mo.experts_per_token, false, 1, kMaxExperts);
  if (mo.experts > 0) {
    mo.expert_ffn_hidden = m.ffn_hidden;  // Mixtral, gpt-oss: intermediate_size is the expert's
    r.integer("moe_intermediate_size", mo.expert_ffn_hidden, false, 1, 100 * kMaxHidden);
    r.integer("n_shared_experts", mo.shared_experts, false, 0, kMaxExperts);
    if (mo.shared_experts > 0) mo.shared_expert_ffn_hidden = mo.expert_ffn_hidden;
    if (r.has("shared_expert_intermediate_size")) {  // Qwen2-MoE: one shared expert this wide
      r.integer("shared_expert_intermediate_size", mo.shared_expert_ffn_hidden, false, 1,
                100 * kMaxHidden);
      mo.shared_experts = 1;
    }
    r.integer("first_k_dense_replace", mo.first_dense_layers, false, 0, kMaxLayers);
    r.integer("moe_layer_freq", mo.layer_freq, false, 1, kMaxLayers);
    r.integer("decoder_sparse_step", mo.layer_freq, false, 1, kMaxLayers);
    if (r.has("mlp_only_layers")) {
      r.skip("mlp_only_layers");
      if (!j["mlp_only_layers"].is_array() || !j["mlp_only_layers"].empty())
        d.warn(path + ".mlp_only_layers",
               "not used: parplan places dense layers with first_k_dense_replace and "
               "decoder_sparse_step only; every other layer is read as MoE");
    }
    r.integer("n_group", mo.groups, false, 0, kMaxExperts);
    r.integer("topk_group", mo.groups_per_token, false, 0, kMaxExperts);
    std::string topk_method;
    r.string("topk_method", topk_method, false);
    // DeepSeek-V3 sec. 2.1.2: auxiliary-loss-free balancing adds a bias per expert (noaux_tc).
    mo.router_bias = topk_method == "noaux_tc" || m.model_type == "gpt_oss";
    if (mo.experts_per_token == 0)
      d.error(path + ".num_experts_per_tok", "is missing; a MoE config needs the experts per token");
  }
  if (mo.experts == 0)
    for (const char* k : {"moe_intermediate_size", "n_shared_experts", "first_k_dense_replace",
                          "moe_layer_freq", "decoder_sparse_step", "shared_expert_intermediate_size",
                          "topk_method", "n_group", "topk_group"})
      r.skip(k);  // dense checkpoints of MoE families carry these; without experts they are moot

  // Multi-head latent attention (DeepSeek-V2 sec. 2.1).
  if (r.has("kv_lora_rank")) {
    r.integer("kv_lora_rank", m.mla.kv_lora_rank, false, 1, kMaxHidden);
    r.integer("q_lora_rank", m.mla.q_lora_rank, false, 0, kMaxHidden);
    r.integer("qk_nope_head_dim", m.mla.qk_nope_head_dim, true, 1, kMaxHidden);
    r.integer("qk_rope_head_dim", m.mla.qk_rope_head_dim, true, 1, kMaxHidden);
    r.integer("v_head_dim", m.mla.v_head_dim, true, 1, kMaxHidden);
  }
  r.integer("num_nextn_predict_layers", m.mtp_layers, false, 0, 64);

  // Whatever is left: harmless for this type, or a warning (known type) / error (unknown type).
  std::vector<std::string> left;
  for (const auto& k : r.unread()) {
    if (common_harmless().count(k)) continue;
    if (std::any_of(t.harmless.begin(), t.harmless.end(),
                    [&](const char* h) { return k == h; }))
      continue;
    left.push_back(k);
  }
  if (!td) {
    const std::string shown = type.empty() ? "(none)" : "\"" + brief(type) + "\"";
    if (!left.empty())
      d.error(path + ".model_type",
              "unknown model_type " + shown + " with keys parplan cannot place: " + join(left) +
                  "; write the model in parplan's JSON (docs/models.md) or use a supported "
                  "model_type: " + hf_model_types());
    else
      d.warn(path + ".model_type", "unknown model_type " + shown +
                                       "; read as a Llama-style decoder from its common keys");
  } else {
    for (const auto& k : left)
      d.warn(path + "." + brief(k), "not used by parplan for model_type " + m.model_type +
                                 "; what it changes is not in the cost model");
  }
  if (m.norm == Norm::RMSNorm) m.norm_bias = false;
  if (mo.experts > 0 && mo.shared_experts > 0 && mo.shared_expert_ffn_hidden == 0)
    mo.shared_expert_ffn_hidden = mo.expert_ffn_hidden;
  return m;
}

}  // namespace parplan::detail
