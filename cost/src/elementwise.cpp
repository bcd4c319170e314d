#include "elementwise.hpp"

#include "parplan/cost/attention.hpp"
#include "parplan/cost/fp8.hpp"
#include "parplan/cost/framework.hpp"

namespace parplan::cost::detail {

double layer_elementwise_bytes(const Model& m, const Training& t, const Layout& l, double T,
                               double dense_share) {
  const FrameworkBehaviour& fw = framework_behaviour(t);
  const bool eager = eager_elementwise(t);
  const double e = t.element_bytes();
  const double scale = e / 2.0;  // the eager byte counts are for 16-bit activations
  const double tp = double(l.tp);
  const double sp_div = l.sequence_parallel ? tp : 1.0;
  const double h = double(m.hidden), f = double(m.ffn_hidden);
  const AttentionShape a = attention_shape(m);
  // Fused: each norm reads and writes the stream once (2e); eager RMSNorm runs as float(), pow,
  // mean, mul, type_as and the weight mul (36 bytes per bf16 element, torchtitan norms.py);
  // eager nn.LayerNorm is one native kernel.
  const double norm_fused = 2 * e;
  const double norm = !eager ? norm_fused
                      : m.norm == Norm::RMSNorm ? fw.eager.rmsnorm * scale
                                                : fw.eager.layernorm * scale;
  // Two dropout + residual adds (2 reads, 1 write, 1-byte mask) on the replicated or SP stream.
  const double stream = T * h * (2 * norm + 2 * (3 * e + 1)) / sp_div;
  // MLP activation on the TP-sharded hidden tensor: GELU read + write; SwiGLU 2 reads + write
  // fused, silu then mul eager (2 + 2, then 2 + 2 + 2 bytes).
  const double act_fused = m.gated_mlp ? 3 * e : 2 * e;
  const double act_bytes = !eager ? act_fused
                           : (m.gated_mlp ? fw.eager.gated_activation : fw.eager.activation) * scale;
  const double act = dense_share * T * f / tp * act_bytes;
  // RoPE on Q and K: fused read + write; eager as torchtitan's complex multiply (float(),
  // complex mul, type_as: 6 + 8 + 6 bytes).
  const double rope_bytes = !eager ? 2 * e : fw.eager.rope * scale;
  const double rope = m.position == Position::Rotary ? T * (a.q + a.k) / tp * rope_bytes : 0.0;
  // GQA: K and V expanded to every query head (read the KV heads, write the query heads' copy).
  double kv_copy = 0;
  if (fw.repeat_kv_copy && !m.mla.enabled() && m.kv_heads < m.heads)
    kv_copy = T * (a.k + a.v + a.q + a.o_in) / tp * e;
  return stream + act + rope + kv_copy;
}

double selective_recompute_gemm_s(const Model& m, const Cluster& c, const Training& t,
                                  const Layout& l, double T, double linear_fwd_s) {
  const FrameworkBehaviour& fw = framework_behaviour(t);
  if (t.fp8() && fw.selective_recomputes_fp8_gemms) return linear_fwd_s;
  if (!fw.selective_recomputes_every_second_mm) return 0.0;
  if (m.mla.enabled() || m.is_moe()) return 0.5 * linear_fwd_s;  // no fixed block order: half
  const DType lin = linear_gemm_dtype(t);
  const double tp = double(l.tp), h = double(m.hidden), f = double(m.ffn_hidden);
  const AttentionShape a = attention_shape(m);
  // Block order of the mm calls: wq, wk, wv, wo, then w1, w3, w2 (gated) or fc1, fc2; the
  // second, fourth and sixth are recomputed.
  double s = matmul_time(c, lin, T, a.k / tp, h)     // wk
             + matmul_time(c, lin, T, h, a.o_in / tp);  // wo
  s += m.gated_mlp ? matmul_time(c, lin, T, f / tp, h)   // w3
                   : matmul_time(c, lin, T, h, f / tp);  // fc2
  return s;
}

}  // namespace parplan::cost::detail
