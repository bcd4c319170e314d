#include "recompute_modules.hpp"

#include <algorithm>

#include "parplan/cost/attention.hpp"
#include "parplan/cost/flops.hpp"
#include "parplan/cost/fp8.hpp"
#include "parplan/cost/framework.hpp"

namespace parplan::cost::detail {

namespace {
// Norms that are modules of their own, which "layernorm" recomputes (transformer_layer.py@b0cc270
// l.383-438): the input norm before MLA's down-projections and the pre-MLP norm of a MoE layer
// (gpt_layer_specs.py l.248, l.265, l.291); the others are fused into linear_qkv / linear_fc1.
double separate_norms(const Model& m) { return (m.mla.enabled() ? 1.0 : 0.0) + m.moe_layer_share(); }
// "moe" recomputes the whole MoE layer, routed and shared experts included.
uint8_t effective(const Layout& l) {
  uint8_t rc = l.recompute == Recompute::Selective ? l.recompute_modules : uint8_t(0);
  if (rc & kRecomputeMoe) rc = uint8_t(rc & ~(kRecomputeMoeAct | kRecomputeSharedExperts));
  return rc;
}
}  // namespace

double module_recompute_s(const Model& m, const Cluster& c, const Training& t, const Layout& l,
                          const LayerForwardParts& p) {
  const uint8_t rc = effective(l);
  if (rc == 0) return 0.0;
  const double e = t.element_bytes(), T = p.tokens, tp = double(l.tp);
  const double sp_div = l.sequence_parallel ? tp : 1.0;
  const double h = double(m.hidden), f = double(m.ffn_hidden);
  const double share = m.moe_layer_share();
  // TE's fused norm reads and writes the stream once (elementwise.cpp), on the SP shard.
  const double norm_bytes = 2 * e * T * h / sp_div;
  double s = 0;
  if (rc & kRecomputeCoreAttn) s += p.attention_core_s;  // attention.py l.329 (Korthikanti)
  if (rc & kRecomputeLayernorm) s += memory_bound_time(c, separate_norms(m) * norm_bytes);
  if ((rc & kRecomputeMlaUpProj) && m.mla.enabled()) {
    // multi_latent_attention.py l.838-843: linear_q_up_proj, linear_kv_up_proj and the RoPE
    // application (read + write of Q and K, as elementwise.cpp prices it in forward).
    const AttentionShape a = attention_shape(m);
    s += mla_up_projection_time(m, c, linear_gemm_dtype(t), T, tp) +
         memory_bound_time(c, T * (a.q + a.k) / tp * 2 * e);
  }
  if (rc & kRecomputeMlp)  // transformer_layer.py l.719-735: the dense MLP with its fused norm
    s += (1 - share) * (p.dense_mlp_s +
                        memory_bound_time(c, norm_bytes + T * f / tp * (m.gated_mlp ? 3 : 2) * e));
  if (p.moe != nullptr && share > 0) {
    if (rc & kRecomputeMoe)  // moe_layer.py l.432: router, dispatch, experts, combine, shared
      s += share * (p.moe->fwd_matmul_s + p.moe->fwd_memory_s);
    if (rc & kRecomputeMoeAct)  // experts.py l.738-750: the routed rows' activation kernel
      s += share * p.moe->act_memory_s;
    if (rc & kRecomputeSharedExperts)  // moe_layer.py l.294: the shared experts' MLP
      s += share * p.moe->shared_fwd_s;
  }
  return s;
}

double module_recompute_kernels(const Model& m, const Training& t, const Layout& l,
                                double selective_kernels) {
  const uint8_t rc = effective(l);
  if (rc == 0) return 0.0;
  const auto& k = framework_behaviour(t).kernels;
  const double share = m.moe_layer_share();
  // Per recomputed linear under FP8: its input cast again (as layer_kernels counts forward).
  const double cast = t.fp8() ? k.fp8_fwd_per_linear +
                                    (t.fp8_recipe == Fp8Recipe::Current ? k.fp8_current_per_linear : 0.0)
                              : 0.0;
  double n = 0;
  if (rc & kRecomputeCoreAttn) n += selective_kernels;
  if (rc & kRecomputeLayernorm) n += separate_norms(m);  // one TE norm kernel each
  // Two up-projection GEMMs and the fused RoPE of Q and of K/V (fused_apply_mla_rope_for_q/kv).
  if ((rc & kRecomputeMlaUpProj) && m.mla.enabled()) n += 4 + 2 * cast;
  // LayerNorm + FC1, activation, FC2 (megatron-core.json's dense forward count).
  if (rc & kRecomputeMlp) n += (1 - share) * (4 + 2 * cast);
  if (m.is_moe()) {
    const double local = double(m.moe.experts) / double(std::max<int32_t>(1, l.ep));
    const double fp8 = t.fp8() ? k.moe_fp8_per_expert_fwd : 0.0;
    if (rc & kRecomputeMoe) n += share * (k.moe_fwd + local * (k.moe_per_expert_fwd + fp8));
    if (rc & kRecomputeMoeAct) n += share;  // the fused weighted SwiGLU
    if ((rc & kRecomputeSharedExperts) && m.moe.shared_experts > 0)
      n += share * (3 + 2 * cast);  // FC1, activation, FC2
  }
  return n;
}

double module_recompute_flops(const Model& m, const Layout& l, double tokens, double seq_len) {
  const uint8_t rc = effective(l);
  if (rc == 0) return 0.0;
  const double share = m.moe_layer_share(), h = double(m.hidden), f = double(m.ffn_hidden);
  const double mats = m.gated_mlp ? 3.0 : 2.0;
  double per_layer = 0;
  if (rc & kRecomputeCoreAttn) per_layer += attention_core_forward_flops(m, tokens, seq_len);
  if (rc & kRecomputeMlaUpProj) per_layer += mla_up_projection_forward_flops(m, tokens);
  if (rc & kRecomputeMlp) per_layer += (1 - share) * 2.0 * tokens * h * f * mats;
  if (rc & kRecomputeMoe) per_layer += share * moe_mlp_forward_flops(m, tokens);
  if ((rc & kRecomputeSharedExperts) && m.is_moe())
    per_layer += share * 2.0 * tokens * mats * h * double(m.moe.shared_experts) *
                 double(m.moe.shared_expert_ffn_hidden);
  return per_layer * double(m.layers);
}

}  // namespace parplan::cost::detail
