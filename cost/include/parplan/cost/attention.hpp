#pragma once
// The attention block's shape, parameters, FLOPs and GEMM times: multi-head, grouped-query and
// multi-query attention with an explicit head_dim, multi-head latent attention (DeepSeek-V2
// sec. 2.1) and sliding-window attention (Beltagy et al. 2020; Mistral, Gemma 2/3, gpt-oss).
#include "parplan/model/cluster.hpp"
#include "parplan/model/model.hpp"
#include "parplan/model/training.hpp"

namespace parplan::cost {

// Widths (elements per token) of what the attention block computes and keeps.
struct AttentionShape {
  double q = 0;       // queries: heads * qk_head_dim
  double k = 0;       // keys after up-projection: kv_heads * qk_head_dim (MLA: heads * (nope+rope))
  double v = 0;       // values: kv_heads * v_head_dim
  double o_in = 0;    // input of the output projection: heads * v_head_dim
  double qk_head_dim = 0, v_head_dim = 0;
  double latent = 0;  // MLA: compressed query + KV latents kept per token (q_lora + kv_lora + rope)
};
AttentionShape attention_shape(const Model& m);

// Parameters of one attention block: projections, their biases, q/k norms, MLA's latent norms.
double attention_params(const Model& m);

// Forward FLOPs of the attention projections for `tokens` tokens (2 per weight per token).
double attention_projection_forward_flops(const Model& m, double tokens);

// Keys each query attends to, averaged over the layers: seq_len on full-attention layers,
// min(window, seq_len) on sliding-window ones (sliding_window_pattern: N-1 of N are local).
double attended_keys(const Model& m, double seq_len);

// Forward FLOPs of the attention-score matmuls (QK^T and AV) for `tokens` queries at seq_len
// (Narayanan et al. 2021 eq. 3 counts 2 * tokens * seq_len * hidden for each).
double attention_core_forward_flops(const Model& m, double tokens, double seq_len);

// Seconds for the projections' GEMMs of `tokens` tokens on one GPU of a tp group (Megatron
// column/row split; MLA's down-projections replicated, its up-projections split).
double attention_projection_time(const Model& m, const Cluster& c, DType t, double tokens,
                                 double tp);
// MLA's up-projections (W_UQ, or W_Q without a query latent, and W_UK / W_UV; split by TP): their
// seconds and forward FLOPs, what Megatron-Core's mla_up_proj recomputation reruns; 0 without MLA.
double mla_up_projection_time(const Model& m, const Cluster& c, DType t, double tokens, double tp);
double mla_up_projection_forward_flops(const Model& m, double tokens);
// Seconds for QK^T and AV of `sq` local queries against `skv` keys, `batch` sequences, `tp` split.
double attention_core_time(const Model& m, const Cluster& c, DType t, double sq, double skv,
                           double batch, double tp);

// Time of the softmax exponentials of the attention core's forward (one per score) at the GPU's
// special-function-unit rate (gpu_floors exp_per_s, under the sustained clock); 0 without one.
double attention_exp_time(const Model& m, const Cluster& c, double sq, double skv, double batch,
                          double tp);

}  // namespace parplan::cost
