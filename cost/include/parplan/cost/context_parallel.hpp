#pragma once
// Context (sequence) parallelism of attention, three ways: ring attention (Liu et al. 2023;
// Megatron-Core CP), all-to-all over heads (DeepSpeed Ulysses, Jacobs et al. 2023), and USP
// (Fang & Zhao 2024, arXiv:2405.07719): Ulysses over `u` ranks inside a node, ring over cp / u.
#include "parplan/cost/collectives.hpp"
#include "parplan/cost/compute.hpp"

namespace parplan::cost {

// KV heads one TP rank holds: kv_heads / tp, or 1 when tp exceeds kv_heads (Megatron replicates).
double kv_heads_per_tp_rank(const Model& m, int64_t tp);
// Whether Ulysses of degree u can split the heads a TP rank holds: u divides heads / tp, and the
// KV heads per rank are a multiple of u or divide it (then repeated up to u, as DeepSpeed does).
bool ulysses_splits_heads(const Model& m, int64_t tp, int64_t u);
// The Ulysses degree of a layout: cp for ulysses, 1 for ring; for usp `layout.ulysses`, or when
// 0 the largest divisor of cp that keeps tp * u inside a node and splits the heads.
int32_t ulysses_degree(const Model& m, const Cluster& c, const Layout& l);

// Bytes of the head-sharded Q, O, K, V one Ulysses all-to-all writes (one layer, one micro-batch);
// 0 for ring attention.
double ulysses_buffer_bytes(const Model& m, const Cluster& c, const Training& t, const Layout& l);

// One layer, one micro-batch: what the CP exchange sends per GPU and how long it takes.
struct CpWork {
  int32_t ulysses = 1, ring = 1;   // ulysses * ring = cp
  double a2a_buffer_bytes = 0;     // Ulysses: Q + K + V + O buffers one rank all-to-alls (fwd)
  double a2a_q_bytes = 0, a2a_o_bytes = 0, a2a_kv_bytes = 0;  // the Q, O and each of K, V
  double ring_kv_block_bytes = 0;  // ring: the K, V block passed on at each forward step
  double ring_bwd_block_bytes = 0;  // ring: K, V and dK, dV passed on at each backward step
  bool ring_all_gather = false;  // K, V all-gathered once per pass, only the local block overlapping
  double fwd_bytes = 0, bwd_bytes = 0;  // bytes each GPU sends
  double fwd_s = 0, bwd_s = 0;          // total exchange time
  double fwd_exposed_s = 0, bwd_exposed_s = 0;  // after overlap with attention compute
  double recompute_exposed_s = 0;  // of bwd_exposed_s: the forward's exchange rerun (full AC)
};
CpWork context_parallel_work(const Model& m, const Cluster& c, const Training& t, const Layout& l,
                             const LayerCompute& lc);

// One layer, one micro-batch: the memory-bound passes a framework's ring attention adds per
// ring step after the first (merging partial outputs and log-sum-exps, accumulating dQ, dK, dV,
// packing K, V for the send), forward and backward; 0 without ring CP or without the framework's
// "context_parallel" passes.
struct CpMerge {
  double fwd_s = 0, bwd_s = 0;
};
CpMerge cp_merge_time(const Model& m, const Cluster& c, const Training& t, const Layout& l);

}  // namespace parplan::cost
