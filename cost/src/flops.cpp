#include "parplan/cost/flops.hpp"

#include "parplan/cost/attention.hpp"
#include "parplan/cost/moe.hpp"
#include "recompute_modules.hpp"

namespace parplan::cost {

namespace {
double mlp_matrices(const Model& m) { return m.gated_mlp ? 3.0 : 2.0; }
double norm_params(const Model& m) { return m.norm_bias ? 2.0 * double(m.hidden) : double(m.hidden); }
double dense_mlp_params(const Model& m) {
  const double h = double(m.hidden), f = double(m.ffn_hidden);
  return mlp_matrices(m) * h * f + (m.linear_bias ? (m.gated_mlp ? 2 : 1) * f + h : 0.0);
}
// MTP module (DeepSeek-V3 sec. 2.2): one transformer block of the model's kind, the projection
// M_k of the concatenated [RMSNorm(h); RMSNorm(embedding)] (2h x h) and three RMSNorms.
double mtp_extra(const Model& m) {
  const double h = double(m.hidden);
  return 2.0 * h * h + 3.0 * norm_params(m);
}
}  // namespace

ParamCount count_params(const Model& m) {
  const double h = double(m.hidden);
  const double norm = norm_params(m);
  ParamCount p;
  p.embedding = double(m.vocab) * h;
  p.position = m.position == Position::Learned ? double(m.max_seq_len) * h : 0.0;
  const double attn = attention_params(m);
  const MoeLayerParams moe = moe_layer_params(m);
  p.dense_layer = attn + dense_mlp_params(m) + 2 * norm;
  p.moe_layer = m.is_moe() ? attn + moe.total() + 2 * norm : 0.0;
  const double n_moe = double(m.moe_layers()), n_dense = double(m.layers) - n_moe;
  const double layers = n_dense * p.dense_layer + n_moe * p.moe_layer;
  p.per_layer = m.layers > 0 ? layers / double(m.layers) : 0.0;
  p.final_norm = norm;
  p.head = m.tied_embeddings ? 0.0 : double(m.vocab) * h;
  const double mtp_layer = m.is_moe() ? p.moe_layer : p.dense_layer;
  p.mtp = double(m.mtp_layers) * (mtp_layer + mtp_extra(m));
  p.total = p.embedding + p.position + layers + p.final_norm + p.head + p.mtp;
  const double moe_blocks = n_moe + (m.is_moe() ? double(m.mtp_layers) : 0.0);
  p.routed_experts = moe_blocks * moe.routed;
  p.active = p.total - moe_blocks * (moe.total() - moe.active(m));
  return p;
}

double layer_forward_flops(const Model& m, double tokens, double seq_len) {
  const double h = double(m.hidden), f = double(m.ffn_hidden);
  const double attn = attention_projection_forward_flops(m, tokens) +
                      attention_core_forward_flops(m, tokens, seq_len);
  const double dense = 2.0 * tokens * h * f * mlp_matrices(m);
  if (!m.is_moe()) return attn + dense;
  const double moe_share = m.moe_layer_share();
  return attn + (1 - moe_share) * dense + moe_share * moe_mlp_forward_flops(m, tokens);
}

double logits_forward_flops(const Model& m, double tokens) {
  return 2.0 * tokens * double(m.hidden) * double(m.vocab);
}

FlopCount step_flops(const Model& m, const Training& t, const Layout& l) {
  const double tokens = double(t.global_batch) * double(t.seq_len);
  const double s = double(t.seq_len);
  const double layer = layer_forward_flops(m, tokens, s) * double(m.layers);
  double logits = logits_forward_flops(m, tokens);
  double mtp = 0;
  if (m.mtp_layers > 0) {
    // Each MTP module: its block, the 2h -> h projection and the shared head's logits.
    const double h = double(m.hidden);
    const double block = m.is_moe()
                             ? attention_projection_forward_flops(m, tokens) +
                                   attention_core_forward_flops(m, tokens, s) +
                                   moe_mlp_forward_flops(m, tokens)
                             : layer_forward_flops(m, tokens, s);
    mtp = double(m.mtp_layers) * (block + 2.0 * tokens * 2.0 * h * h + logits);
  }
  FlopCount f;
  // Backward costs twice the forward (Kaplan et al. 2020; PaLM appendix B).
  f.model = 3.0 * (layer + logits + mtp);
  double recomputed = 0;
  if (l.recompute == Recompute::Full) recomputed = layer;
  else if (l.recompute == Recompute::Selective && l.recompute_modules != 0)
    recomputed = detail::module_recompute_flops(m, l, tokens, s);  // Megatron-Core's modules
  else if (l.recompute == Recompute::Selective)
    recomputed = attention_core_forward_flops(m, tokens, s) * double(m.layers);
  f.hardware = f.model + recomputed;
  return f;
}

}  // namespace parplan::cost
