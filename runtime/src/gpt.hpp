#pragma once
// A GPT in the style of nanoGPT's model.py: token + position embeddings, pre-LayerNorm blocks of
// causal self-attention and a GELU MLP (or a MoE layer), final LayerNorm, tied or untied head.
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
#include "segment_hooks.hpp"
#include "tp_layers.hpp"

namespace parplan::runtime {

struct GptConfig {
  int64_t layers = 4, hidden = 128, heads = 4, ffn_hidden = 512, vocab = 65, block_size = 256;
  bool tied = true;
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
};

struct CausalSelfAttentionImpl : torch::nn::Module {
  int64_t heads_local, head_dim;
  bool sequence_parallel;
  Group* cp;
  ColumnParallelLinear q{nullptr}, k{nullptr}, v{nullptr};
  RowParallelLinear proj{nullptr};
  CausalSelfAttentionImpl(const GptConfig& c, const ModelGroups& g, const std::string& name);
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& proj_bias);
};
TORCH_MODULE(CausalSelfAttention);

struct MlpImpl : torch::nn::Module {
  ColumnParallelLinear fc{nullptr};
  RowParallelLinear proj{nullptr};
  MlpImpl(const GptConfig& c, Group* tp, const std::string& name);
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& proj_bias);
};
TORCH_MODULE(Mlp);

struct BlockImpl : torch::nn::Module {
  torch::nn::LayerNorm ln_1{nullptr}, ln_2{nullptr};
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
  torch::nn::Embedding wte{nullptr}, wpe{nullptr};
  torch::nn::ModuleList blocks;
  torch::nn::LayerNorm ln_f{nullptr};
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
