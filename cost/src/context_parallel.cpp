// Context parallelism: ring attention, Ulysses all-to-all and their hybrid USP.
#include "parplan/cost/context_parallel.hpp"

#include <algorithm>

#include "parplan/cost/attention.hpp"
#include "parplan/cost/framework.hpp"

namespace parplan::cost {

namespace {
int64_t per_node(int64_t gpus_per_node, int64_t stride, int64_t size) {
  if (stride >= gpus_per_node) return 1;
  return std::clamp<int64_t>(gpus_per_node / stride, 1, size);
}
}  // namespace

double kv_heads_per_tp_rank(const Model& m, int64_t tp) {
  return m.kv_heads >= tp ? double(m.kv_heads) / double(tp) : 1.0;
}

bool ulysses_splits_heads(const Model& m, int64_t tp, int64_t u) {
  if (u <= 1) return true;
  if (m.heads % tp != 0 || (m.heads / tp) % u != 0) return false;
  const int64_t kv = m.kv_heads >= tp ? m.kv_heads / tp : 1;
  return kv % u == 0 || u % kv == 0;
}

int32_t ulysses_degree(const Model& m, const Cluster& c, const Layout& l) {
  switch (l.cp_kind) {
    case CpKind::Ring: return 1;
    case CpKind::Ulysses: return l.cp;
    case CpKind::Usp: break;
  }
  if (l.ulysses > 0) return l.ulysses;
  int32_t best = 1;
  for (int32_t u = 2; u <= l.cp && int64_t(l.tp) * u <= c.domain_gpus(); ++u)
    if (l.cp % u == 0 && ulysses_splits_heads(m, l.tp, u)) best = u;
  return best;
}

namespace {
// Per-token widths (elements) one rank exchanges, after TP: Q, O, and K + V with the KV heads
// replicated when tp exceeds them (Megatron) and repeated up to u for Ulysses (DeepSpeed, GQA).
struct Widths {
  double q = 0, o = 0, kv = 0;
};
Widths widths(const Model& m, int64_t tp, int64_t u) {
  const AttentionShape a = attention_shape(m);
  const double kv_local = kv_heads_per_tp_rank(m, tp);
  const double kv_heads = m.kv_heads > 0 ? double(m.kv_heads) : 1.0;
  const double repeat = u > 1 ? std::max(kv_local, double(u)) / kv_local : 1.0;
  return {a.q / double(tp), a.o_in / double(tp),
          (a.k + a.v) / kv_heads * kv_local * repeat};
}
}  // namespace

double ulysses_buffer_bytes(const Model& m, const Cluster& c, const Training& t, const Layout& l) {
  const int64_t u = l.cp > 1 ? ulysses_degree(m, c, l) : 1;
  if (u <= 1) return 0.0;
  const Widths wd = widths(m, l.tp, u);
  const double T = double(t.seq_len) / double(l.cp) * double(l.micro_batch);
  return T * double(t.element_bytes()) * (wd.q + wd.o + wd.kv);
}

CpWork context_parallel_work(const Model& m, const Cluster& c, const Training& t, const Layout& l,
                             const LayerCompute& lc) {
  CpWork w;
  if (l.cp <= 1) return w;
  const double e = t.element_bytes();
  const double T = double(t.seq_len) / double(l.cp) * double(l.micro_batch);  // local tokens
  const int64_t u = ulysses_degree(m, c, l), r = l.cp / u;
  w.ulysses = int32_t(u);
  w.ring = int32_t(r);
  const Widths wd = widths(m, l.tp, u);
  const int64_t gpn = c.domain_gpus();  // NVLink domain
  const double slow = c.efficiency.overlap_slowdown;

  if (u > 1) {
    // Ulysses (Jacobs et al. 2023 sec. 3): Q, K, V all-to-all from sequence- to head-sharded
    // before attention, the output back after; backward mirrors it (dO, then dQ, dK, dV). Each
    // rank sends (u - 1) / u of every buffer; nothing overlaps (attention waits for its input).
    const Group g{u, per_node(gpn, l.tp, u), gpn};
    const double q = T * wd.q * e, o = T * wd.o * e, kv = T * wd.kv * e / 2;
    w.a2a_buffer_bytes = q + o + 2 * kv;
    w.a2a_q_bytes = q, w.a2a_o_bytes = o, w.a2a_kv_bytes = kv;
    const double a2a_s = collective_time(Collective::AllToAll, q, g, c) +
                         collective_time(Collective::AllToAll, o, g, c) +
                         2 * collective_time(Collective::AllToAll, kv, g, c);
    const double sent = double(u - 1) / double(u) * w.a2a_buffer_bytes;
    w.fwd_bytes += sent;
    w.bwd_bytes += sent;
    w.fwd_s += a2a_s;
    w.bwd_s += a2a_s;
    w.fwd_exposed_s += a2a_s;
    w.bwd_exposed_s += a2a_s;
  }
  if (r > 1) {
    // Ring attention (Liu et al. 2023; Megatron-Core CP): each rank passes its K, V block (its
    // cp-th of the sequence, its u-th of the heads after Ulysses: the same bytes) around the ring
    // in r - 1 steps in forward, K, V and dK, dV in backward (dK, dV alone where the framework
    // saved the received blocks: framework.hpp cp_backward_resends_kv); each step overlaps with
    // the attention block computed on the previous one.
    const Group g{r, per_node(gpn, int64_t(l.tp) * u, r), gpn};
    const double kv_block = T * wd.kv * e;
    const double bwd_blocks = framework_behaviour(t).cp_backward_resends_kv ? 2.0 : 1.0;
    w.ring_kv_block_bytes = kv_block;
    const double step_fwd = collective_time(Collective::SendRecv, kv_block, g, c);
    const double step_bwd = collective_time(Collective::SendRecv, bwd_blocks * kv_block, g, c);
    const double attn_fwd = lc.fwd_attention_core_s / double(r), attn_bwd = 2 * attn_fwd;
    auto exposed = [slow](double comm, double compute) {
      return std::max(0.0, comm - compute) + slow * std::min(comm, compute);
    };
    const double steps = double(r - 1);
    w.fwd_bytes += steps * kv_block;
    w.bwd_bytes += steps * bwd_blocks * kv_block;
    w.fwd_s += steps * step_fwd;
    w.bwd_s += steps * step_bwd;
    w.fwd_exposed_s += steps * exposed(step_fwd, attn_fwd);
    w.bwd_exposed_s += steps * exposed(step_bwd, attn_bwd);
  }
  return w;
}

}  // namespace parplan::cost
