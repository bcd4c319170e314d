#pragma once
// The pieces of Llama-family blocks (Touvron et al. 2023; Hugging Face modeling_llama.py) that
// the GPT of gpt.hpp does not have: RMSNorm (Zhang & Sennrich 2019), rotary position embeddings
// (Su et al. 2021, with the config's base and the linear / llama3 frequency scaling), the gated
// MLP (SwiGLU, Shazeer 2020) and the key/value head layout of grouped-query attention under TP.
// LayerNorm with or without bias lives here too, so a block picks its norm from the model JSON.
#include <string>
#include <utility>
#include <vector>

#include <torch/torch.h>

#include "comm.hpp"
#include "parplan/model/plan.hpp"

namespace parplan::runtime {

// LayerNorm (bias optional) or RMSNorm over the last dimension; weight starts at 1, bias at 0.
struct NormImpl : torch::nn::Module {
  bool rms = false;
  double eps = 1e-5;
  torch::Tensor weight, bias;  // bias undefined for RMSNorm and bias-free LayerNorm
  NormImpl(int64_t n, bool rms_norm, bool with_bias, double eps = 1e-5);
  torch::Tensor forward(const torch::Tensor& x) { return apply(x, weight, bias); }
  // With the parameters given (under SP: passed through sp::sum_grads_over_sequence).
  torch::Tensor apply(const torch::Tensor& x, const torch::Tensor& w, const torch::Tensor& b) const;
  std::vector<torch::Tensor> params() const;  // the defined ones: weight [, bias]
};
TORCH_MODULE(Norm);

// x * rsqrt(mean(x^2) + eps) * w, in fp32 (as modeling_llama.py's LlamaRMSNorm).
torch::Tensor rms_norm(const torch::Tensor& x, const torch::Tensor& w, double eps);

// Rotary position embeddings of head_dim dims (rotate-half layout, as Hugging Face and
// Megatron's non-interleaved RoPE). Scaling: "" (none), "linear" (positions / factor) or
// "llama3" (Llama 3.1's per-frequency scaling; low_freq_factor 1, high_freq_factor 4,
// original_max_position_embeddings 8192: the values of every Llama 3.x config, which the model
// JSON does not carry).
struct Rotary {
  torch::Tensor inv_freq;  // [head_dim / 2], fp32 on the CPU
  Rotary() = default;
  Rotary(int64_t head_dim, double base, const std::string& scaling, double factor);
  bool defined() const { return inv_freq.defined(); }
  // cos and sin [T, head_dim] for the given positions [T] (int64), on `device`.
  std::pair<torch::Tensor, torch::Tensor> cos_sin(const torch::Tensor& positions,
                                                  const torch::Device& device) const;
};
// [B, hkv, T, d] -> [B, hkv * group, T, d], each KV head `group` times in a row (one copy).
torch::Tensor repeat_kv_heads(const torch::Tensor& x, int64_t group);
// x [B, h, T, d] rotated by cos/sin [T, d].
torch::Tensor apply_rotary(const torch::Tensor& x, const torch::Tensor& cos, const torch::Tensor& sin);

// Which key/value heads a TP rank holds. kv_heads >= tp: kv_heads / tp of them, split like the
// query heads (kv_heads % tp == 0). tp > kv_heads: one, replicated on tp / kv_heads consecutive
// ranks (as Megatron-Core's GQA does when tp exceeds num_query_groups); the replicas' weight
// gradients are summed over the group `replica_ranks` names.
struct KvLayout {
  int64_t local = 0;   // KV heads on this rank
  int64_t first = 0;   // index of the first one
  int replicas = 1;    // ranks holding the same heads
  std::vector<int> replica_tp_ranks;  // TP-group ranks of those replicas (this one included)
};
KvLayout kv_layout(int64_t kv_heads, int tp, int tp_rank);

// The gated MLP's activation: silu (SwiGLU) or gelu / gelu_tanh (GeGLU), from model.activation.
torch::Tensor gated_activation(const torch::Tensor& gate, const torch::Tensor& up, const std::string& act);

// What the runtime cannot run of a model's architecture (messages naming the field).
void check_architecture(const Model& m, int tp, std::vector<std::string>& errors);

}  // namespace parplan::runtime
