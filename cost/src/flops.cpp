#include "parplan/cost/flops.hpp"

namespace parplan::cost {

namespace {
// Width of the K and V projections (grouped-query attention shares kv_heads among heads).
double kv_width(const Model& m) { return double(m.kv_heads) * double(m.head_dim()); }
double mlp_matrices(const Model& m) { return m.gated_mlp ? 3.0 : 2.0; }
}  // namespace

ParamCount count_params(const Model& m) {
  const double h = double(m.hidden), f = double(m.ffn_hidden), kv = kv_width(m);
  // Learned positions, LayerNorm (gain + bias) or RMSNorm (gain), optional biases.
  const double q = double(m.heads) * double(m.head_dim());
  const double norm = m.norm_bias ? 2 * h : h;
  ParamCount p;
  p.embedding = double(m.vocab) * h;
  p.position = m.position == Position::Learned ? double(m.max_seq_len) * h : 0.0;
  double attn = h * (q + 2 * kv) + q * h;
  double mlp = mlp_matrices(m) * h * f;
  double norms = 2 * norm;
  double biases = (m.qkv_bias ? q + 2 * kv : 0.0) +
                  (m.linear_bias ? h + (m.gated_mlp ? 2 : 1) * f + h : 0.0);
  p.per_layer = attn + mlp + norms + biases;
  p.final_norm = norm;
  p.head = m.tied_embeddings ? 0.0 : double(m.vocab) * h;
  p.total = p.embedding + p.position + double(m.layers) * p.per_layer + p.final_norm + p.head;
  return p;
}

double attention_core_forward_flops(const Model& m, double tokens, double seq_len) {
  // QK^T and softmax(.)V: 2 * tokens * seq_len * hidden each (Narayanan et al. 2021, eq. 3).
  return 4.0 * tokens * seq_len * double(m.hidden);
}

double layer_forward_flops(const Model& m, double tokens, double seq_len) {
  const double h = double(m.hidden), f = double(m.ffn_hidden), kv = kv_width(m);
  double qkv = 2.0 * tokens * h * (h + 2 * kv);
  double proj = 2.0 * tokens * h * h;
  double mlp = 2.0 * tokens * h * f * mlp_matrices(m);
  return qkv + proj + mlp + attention_core_forward_flops(m, tokens, seq_len);
}

double logits_forward_flops(const Model& m, double tokens) {
  return 2.0 * tokens * double(m.hidden) * double(m.vocab);
}

FlopCount step_flops(const Model& m, const Training& t, const Layout& l) {
  const double tokens = double(t.global_batch) * double(t.seq_len);
  const double s = double(t.seq_len);
  const double layer = layer_forward_flops(m, tokens, s) * double(m.layers);
  const double logits = logits_forward_flops(m, tokens);
  FlopCount f;
  // Backward costs twice the forward (Kaplan et al. 2020; PaLM appendix B).
  f.model = 3.0 * (layer + logits);
  double recomputed = 0;
  if (l.recompute == Recompute::Full) recomputed = layer;
  else if (l.recompute == Recompute::Selective)
    recomputed = attention_core_forward_flops(m, tokens, s) * double(m.layers);
  f.hardware = f.model + recomputed;
  return f;
}

}  // namespace parplan::cost
