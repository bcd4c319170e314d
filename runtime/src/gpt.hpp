#pragma once
// A GPT in the style of nanoGPT's model.py: token + position embeddings, pre-LayerNorm blocks of
// causal self-attention and a GELU MLP (or a MoE layer), final LayerNorm, tied or untied head.
// The same classes build a Llama-family model from the model JSON (llama_layers.hpp): RMSNorm,
// rotary positions (no position table), grouped-query attention, a gated (SwiGLU) MLP or gated
// experts, no biases, untied head; each of these is its own switch, as the model JSON has them.
// One pipeline stage (or interleaved model chunk) holds a contiguous range of blocks (plus the
// embeddings on the first and the head on the last); attention and MLP use the tensor-parallel
// layers. Embeddings and head are replicated across the TP group (not vocab-parallel): the
// character vocabulary is tiny.
//
// Parallel dimensions inside the model, each in its own file:
//   TP  tp_layers.hpp (column/row-parallel linears)          collectives in mappings.cpp
//   SP  sequence-sharded residual stream, norms and biases  (sp:: in mappings.cpp)
//   CP  context_parallel.cpp (ring attention, load-balanced chunks)
//   EP  expert_parallel.cpp (top-k router, all-to-all dispatch/combine)
#include <torch/torch.h>

#include "comm.hpp"
#include "expert_parallel.hpp"
#include "llama_layers.hpp"
#include "segment_hooks.hpp"
#include "tp_layers.hpp"

namespace parplan::runtime {

struct GptConfig {
  int64_t layers = 4, hidden = 128, heads = 4, ffn_hidden = 512, vocab = 65, block_size = 256;
  int64_t kv_heads = 0, head_dim = 0;  // 0: heads, hidden / heads
  bool tied = true;
  // Architecture (model JSON): norm, biases, MLP, positions.
  bool rms_norm = false, norm_bias = true, qkv_bias = true, linear_bias = true, gated_mlp = false;
  std::string activation;  // of the gated MLP (llama_layers.hpp gated_activation)
  bool rotary = false;     // rotary positions instead of the learned table
  double rope_base = 10000, rope_factor = 0;
  std::string rope_scaling;
  int64_t kv() const { return kv_heads > 0 ? kv_heads : heads; }
  int64_t hd() const { return head_dim > 0 ? head_dim : hidden / heads; }
  uint64_t seed = 1337;
  // This stage: blocks [first_layer, last_layer).
  int64_t first_layer = 0, last_layer = 4;
  bool has_embedding = true, has_head = true;
  bool sequence_parallel = false;  // with tp > 1: the residual stream is split along the sequence
  // MoE (experts == 0: dense): which layers have routed experts.
  int64_t experts = 0, experts_per_token = 0, expert_ffn_hidden = 0, moe_first_dense = 0, moe_freq = 1;
  bool router_bias = false;
  bool is_moe_layer(int64_t l) const {
    return experts > 0 && l >= moe_first_dense && (moe_freq <= 1 || (l - moe_first_dense) % moe_freq == 0);
  }
};

// The groups the model's layers communicate over (size-1 groups when a dimension is unused).
struct ModelGroups {
  Group* tp = nullptr;
  Group* cp = nullptr;
  Group* ep = nullptr;
  Group* kv = nullptr;  // GQA with tp > kv_heads: the TP ranks holding this rank's KV head
};

struct CausalSelfAttentionImpl : torch::nn::Module {
  int64_t heads_local, kv_local, head_dim;
  bool sequence_parallel;
  Group* cp;
  Group* kv_replicas = nullptr;  // replicated KV heads: their weight gradients summed here
  Rotary rope;                   // rotary positions, or undefined
  torch::Tensor rope_cos, rope_sin;  // [T, head_dim] for the last length seen (constants)
  ColumnParallelLinear q{nullptr}, k{nullptr}, v{nullptr};
  RowParallelLinear proj{nullptr};
  CausalSelfAttentionImpl(const GptConfig& c, const ModelGroups& g, const std::string& name);
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& proj_bias);
};
TORCH_MODULE(CausalSelfAttention);

// GELU MLP, or gated: down(act(gate(x)) * up(x)) with `fc` the gate.
struct MlpImpl : torch::nn::Module {
  std::string activation;
  ColumnParallelLinear fc{nullptr}, up{nullptr};
  RowParallelLinear proj{nullptr};
  MlpImpl(const GptConfig& c, Group* tp, const std::string& name);
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& proj_bias);
};
TORCH_MODULE(Mlp);

struct BlockImpl : torch::nn::Module {
  Norm ln_1{nullptr}, ln_2{nullptr};
  CausalSelfAttention attn{nullptr};
  Mlp mlp{nullptr};  // dense layers
  Moe moe{nullptr};  // MoE layers
  Group* sp_group = nullptr;  // the TP group under sequence parallelism, else null
  BlockImpl(const GptConfig& c, const ModelGroups& g, int64_t layer);
  torch::Tensor forward(torch::Tensor x);
};
TORCH_MODULE(Block);

// One pipeline stage of the GPT. forward: token ids [B, T] (first stage) or hidden states
// [B, T / seq_shards(), C] in; hidden states or logits [B, T, vocab] (last stage) out. Under CP,
// T is this rank's share of the sequence (context_parallel.hpp).
struct GptStageImpl : torch::nn::Module {
  GptConfig cfg;
  ModelGroups groups;
  torch::nn::Embedding wte{nullptr}, wpe{nullptr};  // wpe: learned positions only
  torch::nn::ModuleList blocks;
  Norm ln_f{nullptr};
  torch::Tensor head_weight;  // untied head [vocab, hidden]
  SegmentHooks* hooks = nullptr;  // around each segment of forward (ZeRO-3 gathers), or none
  GptStageImpl(const GptConfig& c, const ModelGroups& g);
  torch::Tensor forward(const torch::Tensor& x);
  // Pieces the sequence of the activations between stages is split into (tp under SP).
  int64_t seq_shards() const;
};
TORCH_MODULE(GptStage);

// Mean cross-entropy of logits [B, T, V] against targets [B, T].
torch::Tensor lm_loss(const torch::Tensor& logits, const torch::Tensor& targets);

}  // namespace parplan::runtime
