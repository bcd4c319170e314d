#pragma once
// A GPT in the style of nanoGPT's model.py: token + position embeddings, pre-LayerNorm blocks of
// causal self-attention and a GELU MLP, final LayerNorm, tied or untied head. One pipeline stage
// holds a contiguous range of blocks (plus the embeddings on the first stage and the head on the
// last); attention and MLP use the tensor-parallel layers. Embeddings and head are replicated
// across the TP group (not vocab-parallel): the character vocabulary is tiny.
#include <torch/torch.h>

#include "comm.hpp"
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
};

struct CausalSelfAttentionImpl : torch::nn::Module {
  int64_t heads_local, head_dim;
  ColumnParallelLinear q{nullptr}, k{nullptr}, v{nullptr};
  RowParallelLinear proj{nullptr};
  CausalSelfAttentionImpl(const GptConfig& c, Group* tp, const std::string& name);
  torch::Tensor forward(const torch::Tensor& x);
};
TORCH_MODULE(CausalSelfAttention);

struct MlpImpl : torch::nn::Module {
  ColumnParallelLinear fc{nullptr};
  RowParallelLinear proj{nullptr};
  MlpImpl(const GptConfig& c, Group* tp, const std::string& name);
  torch::Tensor forward(const torch::Tensor& x);
};
TORCH_MODULE(Mlp);

struct BlockImpl : torch::nn::Module {
  torch::nn::LayerNorm ln_1{nullptr}, ln_2{nullptr};
  CausalSelfAttention attn{nullptr};
  Mlp mlp{nullptr};
  BlockImpl(const GptConfig& c, Group* tp, const std::string& name);
  torch::Tensor forward(torch::Tensor x);
};
TORCH_MODULE(Block);

// One pipeline stage of the GPT. forward: token ids [B, T] (first stage) or hidden states
// [B, T, C] in; hidden states or logits [B, T, vocab] (last stage) out.
struct GptStageImpl : torch::nn::Module {
  GptConfig cfg;
  torch::nn::Embedding wte{nullptr}, wpe{nullptr};
  torch::nn::ModuleList blocks;
  torch::nn::LayerNorm ln_f{nullptr};
  torch::Tensor head_weight;  // untied head [vocab, hidden]
  SegmentHooks* hooks = nullptr;  // around each segment of forward (ZeRO-3 gathers), or none
  GptStageImpl(const GptConfig& c, Group* tp);
  torch::Tensor forward(const torch::Tensor& x);
};
TORCH_MODULE(GptStage);

// Mean cross-entropy of logits [B, T, V] against targets [B, T].
torch::Tensor lm_loss(const torch::Tensor& logits, const torch::Tensor& targets);

}  // namespace parplan::runtime
