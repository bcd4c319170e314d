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
// Ring attention exchanges the K, V the attention kernel reads: expanded to every query head
// when the framework copies them so before scaled_dot_product_attention (torchtitan repeat_kv:
// the CP dispatcher shards and passes on SDPA's inputs), else the KV heads a TP rank holds (also
// where the framework expands them only after the ring: cp.kv_unrepeated, parplan's runtime).
// Per local token, after TP; after Ulysses a rank holds u times the tokens and a u-th of the
// heads: the same elements.
double ring_kv_width(const Model& m, int64_t tp, int64_t u, const FrameworkBehaviour& fw) {
  const AttentionShape a = attention_shape(m);
  if (fw.repeat_kv_copy && !fw.cp.kv_unrepeated && !m.mla.enabled())
    return (a.q + a.o_in) / double(tp);
  return widths(m, tp, u).kv;
}

const FrameworkBehaviour::ContextParallel::Passes& cp_passes(const Training& t) {
  const FrameworkBehaviour& fw = framework_behaviour(t);
  return resolve(t.compile, fw.compile) ? fw.cp.compiled : fw.cp.eager;
}
double pass(double compiled, double eager) { return compiled >= 0 ? compiled : eager; }
}  // namespace

CpMerge cp_merge_time(const Model& m, const Cluster& c, const Training& t, const Layout& l) {
  CpMerge r;
  if (l.cp <= 1) return r;
  const int64_t u = ulysses_degree(m, c, l), steps = l.cp / u - 1;
  if (steps <= 0) return r;
  const FrameworkBehaviour& fw = framework_behaviour(t);
  const auto& ps = cp_passes(t);
  const auto& eg = fw.cp.eager;
  const double fwd_out = pass(ps.fwd_out, eg.fwd_out), bwd_q = pass(ps.bwd_q, eg.bwd_q);
  const double bwd_kv = pass(ps.bwd_kv, eg.bwd_kv), pack = pass(ps.kv_pack, eg.kv_pack);
  if (fwd_out + bwd_q + bwd_kv + pack <= 0) return r;
  const double T = double(t.seq_len) / double(l.cp) * double(l.micro_batch);  // local tokens
  const AttentionShape a = attention_shape(m);  // per local token (after Ulysses: the same)
  const double tp = double(l.tp);
  const double q = T * a.q / tp, o = T * a.o_in / tp, kv = T * ring_kv_width(m, l.tp, u, fw);
  // Every ring step after the first (the last CP rank's: its blocks are never the half-query
  // ones), memory-bound passes over the local output, Q and the K, V block.
  r.fwd_s = double(steps) * memory_bound_time(c, fwd_out * o + pack * kv);
  r.bwd_s = double(steps) * memory_bound_time(c, bwd_q * q + (bwd_kv + pack) * kv);
  return r;
}

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
    // in r - 1 steps in forward, K, V and dK, dV (at the framework's gradient bytes: PyTorch CP
    // accumulates and passes them in fp32) in backward, dK, dV alone where the framework saved the
    // received blocks (framework.hpp cp.backward_resends_kv: parplan's runtime); each step
    // overlaps with the attention block computed on the previous one.
    const FrameworkBehaviour& fw = framework_behaviour(t);
    const Group g{r, per_node(gpn, int64_t(l.tp) * u, r), gpn};
    const double kv_elems = T * ring_kv_width(m, l.tp, u, fw);
    const double kv_block = kv_elems * e;
    const double grad_block = kv_elems * (fw.cp.grad_bytes > 0 ? fw.cp.grad_bytes : e);
    const double bwd_kv = fw.cp.backward_resends_kv ? kv_block : 0.0;
    w.ring_kv_block_bytes = kv_block;
    w.ring_bwd_block_bytes = bwd_kv + grad_block;
    const double attn_fwd = lc.fwd_attention_core_s / double(r), attn_bwd = 2 * attn_fwd;
    auto exposed = [slow](double comm, double compute) {
      return std::max(0.0, comm - compute) + slow * std::min(comm, compute);
    };
    const double steps = double(r - 1);
    w.fwd_bytes += steps * kv_block;
    w.bwd_bytes += steps * (bwd_kv + grad_block);
    w.ring_all_gather = fw.cp.kv_all_gather;
    if (fw.cp.kv_all_gather) {
      // PyTorch CP's all-gather rotater (torch/distributed/tensor/experimental/_attention.py
      // _AllGatherRotater): one all-gather of every rank's K, V, issued before the local block,
      // which alone overlaps it; the backward gathers K, V again the same way and passes dK, dV
      // one step at a time (all-to-all permute), each overlapping the next block's backward.
      const double ag = collective_time(Collective::AllGather, double(r) * kv_block, g, c);
      const double step_grad = collective_time(Collective::SendRecv, grad_block, g, c);
      w.fwd_s += ag;
      const double bwd_ag = fw.cp.backward_resends_kv ? ag : 0.0;
      w.bwd_s += bwd_ag + steps * step_grad;
      w.fwd_exposed_s += exposed(ag, attn_fwd);
      w.bwd_exposed_s += exposed(bwd_ag, attn_bwd) + steps * exposed(step_grad, attn_bwd);
    } else {
      const double step_fwd = collective_time(Collective::SendRecv, kv_block, g, c);
      const double step_bwd = collective_time(Collective::SendRecv, bwd_kv + grad_block, g, c);
      w.fwd_s += steps * step_fwd;
      w.bwd_s += steps * step_bwd;
      w.fwd_exposed_s += steps * exposed(step_fwd, attn_fwd);
      w.bwd_exposed_s += steps * exposed(step_bwd, attn_bwd);
    }
    // Full recomputation reruns the layer's forward, its K, V exchange included, before the
    // backward.
    if (l.recompute == Recompute::Full) {
      w.recompute_exposed_s = w.fwd_exposed_s;
      w.bwd_exposed_s += w.recompute_exposed_s;
    }
  }
  return w;
}

}  // namespace parplan::cost
