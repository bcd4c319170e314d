#pragma once
// The transformer's shape (docs/design.md "Model" contract): dense, grouped-query, multi-head
// latent attention (MLA), sliding-window and mixture-of-experts (MoE) decoders.
#include <cstdint>
#include <string>

#include <nlohmann/json_fwd.hpp>

#include "parplan/model/error.hpp"

namespace parplan {

enum class Position : uint8_t { Learned, Rotary, None };  // None: ALiBi / NoPE (no parameters)
enum class Norm : uint8_t { LayerNorm, RMSNorm };

// Mixture of experts (Shazeer et al. 2017; Fedus et al. 2021; DeepSeek-V3 sec. 2.1.2).
// experts == 0 means a dense model.
struct MoE {
  int64_t experts = 0;            // routed experts per MoE layer
  int64_t experts_per_token = 0;  // top-k routed experts each token goes to
  int64_t expert_ffn_hidden = 0;  // FFN width of one routed expert (defaults to ffn_hidden)
  int64_t shared_experts = 0;     // always-active experts (DeepSeek, Qwen2-MoE)
  int64_t shared_expert_ffn_hidden = 0;  // width of one shared expert (defaults to expert_ffn_hidden)
  int64_t first_dense_layers = 0;  // leading dense layers (HF first_k_dense_replace)
  int64_t layer_freq = 1;          // every layer_freq-th layer (after the dense ones) is MoE
  double capacity_factor = 0;      // 0: dropless; else tokens per expert capped at cf * T k / E
  double load_imbalance = 0;       // max/mean tokens per expert; 0: the cost model's default
  bool router_bias = false;        // a bias in the router (gpt-oss)
  // Group-limited routing (DeepSeek-V2/V3 n_group, topk_group): experts in `groups` groups, a
  // token's experts from at most `groups_per_token` of them (V3: one group per node, 4 nodes).
  int64_t groups = 0, groups_per_token = 0;

  bool enabled() const { return experts > 0; }
};

// Multi-head latent attention (DeepSeek-V2 sec. 2.1): low-rank query and joint KV compression.
struct MLA {
  int64_t q_lora_rank = 0;  // 0: queries projected directly (DeepSeek-V2-Lite)
  int64_t kv_lora_rank = 0;
  int64_t qk_nope_head_dim = 0;
  int64_t qk_rope_head_dim = 0;
  int64_t v_head_dim = 0;

  bool enabled() const { return kv_lora_rank > 0; }
};

struct Model {
  std::string name = "model";
  std::string model_type;  // Hugging Face model_type it was read from (llama, mixtral, ...), or ""
  int64_t layers = 0;
  int64_t hidden = 0;
  int64_t heads = 0;
  int64_t kv_heads = 0;      // grouped-query attention; defaults to heads (1: multi-query)
  int64_t head_dim_explicit = 0;  // HF head_dim / Megatron --kv-channels; 0: hidden / heads
  int64_t ffn_hidden = 0;    // dense MLP width; defaults to 4 * hidden
  int64_t vocab = 0;
  int64_t max_seq_len = 0;
  bool tied_embeddings = false;
  bool gated_mlp = false;    // SwiGLU / GeGLU: three FFN matrices
  std::string activation;    // gelu, gelu_tanh, silu, relu, ... ("" : gelu, or silu when gated)

  // Architecture details that change parameters, FLOPs or memory. Defaults follow the old
  // convention: a gated MLP means a Llama-style model (RoPE, RMSNorm, no biases), else GPT-style.
  Position position = Position::Learned;
  double rotary_base = 10000;      // RoPE theta
  std::string rope_scaling;        // "" or the HF rope_scaling type (llama3, yarn, linear, ...)
  double rope_scaling_factor = 0;  // its factor
  Norm norm = Norm::LayerNorm;
  bool qkv_bias = true;     // biases of the Q, K, V projections
  bool linear_bias = true;  // biases of the attention output and MLP projections
  bool norm_bias = true;    // LayerNorm beta (RMSNorm has none)
  bool qk_norm = false;     // per-head RMSNorm on Q and K (Qwen3, Gemma 3)
  bool parallel_residual = false;  // attention and MLP from one input (GPT-J, NeoX, Falcon)
  int64_t sliding_window = 0;      // tokens; 0: full attention everywhere
  int64_t sliding_window_pattern = 1;  // of every N layers N-1 are local, 1 global; 1: all local
  int64_t mtp_layers = 0;          // multi-token-prediction modules (DeepSeek-V3 sec. 2.2)
  MoE moe;
  MLA mla;

  int64_t head_dim() const {
    return head_dim_explicit > 0 ? head_dim_explicit : (heads > 0 ? hidden / heads : 0);
  }
  bool is_moe() const { return moe.enabled(); }
  // Whether layer i (0-based) has routed experts.
  bool is_moe_layer(int64_t i) const {
    return moe.enabled() && i >= moe.first_dense_layers &&
           (moe.layer_freq <= 1 || (i - moe.first_dense_layers) % moe.layer_freq == 0);
  }
  int64_t moe_layers() const;
  // The share of the layers with routed experts (0 for a dense model): the cost model prices the
  // average layer as this mix of MoE and dense layers.
  double moe_layer_share() const { return layers > 0 ? double(moe_layers()) / double(layers) : 0.0; }
};

// Every problem with its field path (prefix, e.g. "model").
void validate(const Model& m, Diagnostics& d, const std::string& prefix = "model");

// Reads the parplan form, or a Hugging Face config.json.
Model model_from_json(const nlohmann::json& j, Diagnostics& d, const std::string& prefix = "model");
nlohmann::json to_json(const Model& m);
bool is_hf_config(const nlohmann::json& j);

const char* to_string(Position p);
const char* to_string(Norm n);
bool parse_position(const std::string& s, Position& out);
bool parse_norm(const std::string& s, Norm& out);

}  // namespace parplan
