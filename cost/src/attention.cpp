#include "parplan/cost/attention.hpp"

#include <algorithm>

#include "parplan/cost/compute.hpp"
#include "parplan/cost/floors.hpp"

namespace parplan::cost {

AttentionShape attention_shape(const Model& m) {
  AttentionShape s;
  const double H = double(m.heads);
  if (m.mla.enabled()) {
    // DeepSeek-V2 eq. 9-19: per head a no-RoPE part and a decoupled RoPE part for Q and K.
    s.qk_head_dim = double(m.mla.qk_nope_head_dim + m.mla.qk_rope_head_dim);
    s.v_head_dim = double(m.mla.v_head_dim);
    s.q = s.k = H * s.qk_head_dim;
    s.v = s.o_in = H * s.v_head_dim;
    s.latent = double(m.mla.q_lora_rank + m.mla.kv_lora_rank + m.mla.qk_rope_head_dim);
    return s;
  }
  const double hd = double(m.head_dim());
  s.qk_head_dim = s.v_head_dim = hd;
  s.q = s.o_in = H * hd;
  s.k = s.v = double(m.kv_heads) * hd;
  return s;
}

namespace {
// Weights of the projections (no biases, no norms).
double projection_weights(const Model& m) {
  const double h = double(m.hidden);
  const AttentionShape s = attention_shape(m);
  if (m.mla.enabled()) {
    const double qr = double(m.mla.q_lora_rank), kvr = double(m.mla.kv_lora_rank);
    const double rope = double(m.mla.qk_rope_head_dim);
    const double H = double(m.heads);
    const double q = qr > 0 ? h * qr + qr * s.q : h * s.q;  // W_DQ, W_UQ (+ W_QR inside s.q)
    const double kv = h * (kvr + rope)                      // W_DKV and the shared RoPE key W_KR
                      + kvr * H * (double(m.mla.qk_nope_head_dim) + s.v_head_dim);  // W_UK, W_UV
    return q + kv + s.o_in * h;
  }
  return h * (s.q + s.k + s.v) + s.o_in * h;
}
}  // namespace

double attention_params(const Model& m) {
  const AttentionShape s = attention_shape(m);
  double p = projection_weights(m);
  if (m.qkv_bias) p += s.q + s.k + s.v;
  if (m.linear_bias) p += double(m.hidden);  // output projection bias
  if (m.qk_norm) p += 2.0 * s.qk_head_dim;   // per-head RMSNorm gains on Q and K (Qwen3, Gemma 3)
  if (m.mla.enabled())                        // RMSNorms on the compressed latents
    p += double(m.mla.kv_lora_rank) + double(m.mla.q_lora_rank);
  return p;
}

double attention_projection_forward_flops(const Model& m, double tokens) {
  return 2.0 * tokens * projection_weights(m);
}

double attended_keys(const Model& m, double seq_len) {
  if (m.sliding_window <= 0) return seq_len;
  const double local = std::min(double(m.sliding_window), seq_len);
  const double p = double(std::max<int64_t>(1, m.sliding_window_pattern));
  const double local_share = p <= 1 ? 1.0 : (p - 1) / p;
  return local_share * local + (1 - local_share) * seq_len;
}

double attention_core_forward_flops(const Model& m, double tokens, double seq_len) {
  const AttentionShape s = attention_shape(m);
  const double keys = attended_keys(m, seq_len);
  // QK^T: 2 * keys * q per token; softmax(.)V: 2 * keys * o_in per token.
  return 2.0 * tokens * keys * (s.q + s.o_in);
}

double attention_projection_time(const Model& m, const Cluster& c, DType t, double T, double tp) {
  const double h = double(m.hidden);
  const AttentionShape s = attention_shape(m);
  if (m.mla.enabled()) {
    const double qr = double(m.mla.q_lora_rank), kvr = double(m.mla.kv_lora_rank);
    const double rope = double(m.mla.qk_rope_head_dim), H = double(m.heads);
    double q = qr > 0 ? matmul_time(c, t, T, qr, h) + matmul_time(c, t, T, s.q / tp, qr)
                      : matmul_time(c, t, T, s.q / tp, h);
    double kv = matmul_time(c, t, T, kvr + rope, h) +
                matmul_time(c, t, T, H * (double(m.mla.qk_nope_head_dim) + s.v_head_dim) / tp, kvr);
    return q + kv + matmul_time(c, t, T, h, s.o_in / tp);
  }
  return matmul_time(c, t, T, (s.q + s.k + s.v) / tp, h)  // fused QKV
         + matmul_time(c, t, T, h, s.o_in / tp);          // output projection
}

double mla_up_projection_time(const Model& m, const Cluster& c, DType t, double T, double tp) {
  if (!m.mla.enabled()) return 0.0;
  const AttentionShape s = attention_shape(m);
  const double qr = double(m.mla.q_lora_rank), kvr = double(m.mla.kv_lora_rank);
  const double q_in = qr > 0 ? qr : double(m.hidden);
  return matmul_time(c, t, T, s.q / tp, q_in) +
         matmul_time(c, t, T, double(m.heads) * (double(m.mla.qk_nope_head_dim) + s.v_head_dim) / tp,
                     kvr);
}

double mla_up_projection_forward_flops(const Model& m, double tokens) {
  if (!m.mla.enabled()) return 0.0;
  const AttentionShape s = attention_shape(m);
  const double qr = double(m.mla.q_lora_rank), kvr = double(m.mla.kv_lora_rank);
  const double q_in = qr > 0 ? qr : double(m.hidden);
  return 2.0 * tokens *
         (q_in * s.q + kvr * double(m.heads) * (double(m.mla.qk_nope_head_dim) + s.v_head_dim));
}

double attention_core_time(const Model& m, const Cluster& c, DType t, double sq, double skv,
                           double batch, double tp) {
  const AttentionShape s = attention_shape(m);
  const double keys = attended_keys(m, skv);
  const double heads_local = double(m.heads) / tp;
  return matmul_time(c, t, sq, keys, s.qk_head_dim, batch * heads_local)   // Q K^T
         + matmul_time(c, t, sq, s.v_head_dim, keys, batch * heads_local);  // softmax(.) V
}

double attention_exp_time(const Model& m, const Cluster& c, double sq, double skv, double batch,
                          double tp) {
  const GpuFloors g = gpu_floors(c.gpu);
  if (!(g.exp_per_s > 0)) return 0.0;
  // One exponential per score (softmax's exp; a flash kernel's backward recomputes P = exp(S - L)
  // once more): every query against its attended keys, per local head.
  const double scores = batch * double(m.heads) / tp * sq * attended_keys(m, skv);
  return scores / (g.exp_per_s * g.clock_scale);
}

}  // namespace parplan::cost
