#pragma once
// Parameter counts and FLOPs per step (model FLOPs for MFU, hardware FLOPs for HFU).
#include "parplan/model/layout.hpp"
#include "parplan/model/model.hpp"
#include "parplan/model/training.hpp"
#include "parplan/cost/attention.hpp"

namespace parplan::cost {

struct ParamCount {
  double embedding = 0;  // token embedding, vocab * hidden
  double position = 0;   // learned position embedding, max_seq_len * hidden (0 for gated/RoPE models)
  double per_layer = 0;  // one transformer layer: attention + MLP + norms (+ biases); the average
                         // over the layers when dense and MoE layers mix
  double final_norm = 0;
  double head = 0;       // output projection when untied, else 0
  double mtp = 0;        // multi-token-prediction modules (DeepSeek-V3 sec. 2.2), embedding and
                         // head shared with the main model
  double total = 0;
  double dense_layer = 0;     // one dense layer
  double moe_layer = 0;       // one MoE layer (all its experts)
  double routed_experts = 0;  // every routed expert of the model (main layers and MTP)
  double active = 0;          // what one token uses: total less the routed experts it skips
};
ParamCount count_params(const Model& m);

struct FlopCount {
  double model = 0;     // per step, all GPUs: what the model needs (no recomputation)
  double hardware = 0;  // per step, all GPUs: what is executed (recomputation included)
};

// Forward FLOPs of one transformer layer for `tokens` tokens at sequence length s (matmuls only;
// Narayanan et al. 2021 eq. 3 generalised to GQA, MLA, sliding windows and gated MLPs); for a
// MoE model the average over its dense and MoE layers (active experts only).
double layer_forward_flops(const Model& m, double tokens, double seq_len);
// Forward FLOPs of the attention-score matmuls (QK^T and AV) alone: attention.hpp.
// Forward FLOPs of the logits projection.
double logits_forward_flops(const Model& m, double tokens);

// Narayanan et al. 2021 eq. 3 (96 B s l h^2 (1 + s/6h + V/16lh) with full recomputation);
// 3x forward for model FLOPs (PaLM appendix B), plus recomputed forward work for hardware FLOPs.
FlopCount step_flops(const Model& m, const Training& t, const Layout& l);

}  // namespace parplan::cost
