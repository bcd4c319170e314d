#include "parplan/cost/host_overhead.hpp"

#include <algorithm>

namespace parplan::cost {

namespace {
// Forward operators of a dense pre-norm layer, unfused and eager (runtime/src/gpt.cpp, nanoGPT
// model.py), counting operators that produce a new tensor (views are nearly free):
// 2 LayerNorms, 6 linears (Q, K, V, attention output, FC1, FC2; a gated MLP adds one),
// 2 bias adds after the row-parallel linears (none without linear biases), the attention core
// (scores matmul, scale, causal mask, masked fill, softmax, matmul with V = 6), merging the heads
// (1 contiguous copy), the activation (a gated MLP adds the product) and 2 residual adds.
// Llama-style layers (runtime/src/llama_layers.cpp): an RMSNorm is 6 operators (pow, mean, add,
// rsqrt, two multiplications) instead of 1; rotary positions rotate Q and K (negation, concat,
// two multiplications and an add each = 10); grouped-query attention copies the K and V heads
// for their query heads (2).
double dense_layer_fwd_ops(const Model& m, const Layout& l) {
  double ops = 2 + (m.gated_mlp ? 7 : 6) + (m.linear_bias ? 2 : 0) + 6 + 1 + (m.gated_mlp ? 2 : 1) + 2;
  if (m.norm == Norm::RMSNorm) ops += 2 * 5;
  if (m.position == Position::Rotary) ops += 10;
  if (m.kv_heads > 0 && m.kv_heads < m.heads) ops += 2;
  if (l.tp > 1) ops += 4;  // the autograd functions around the 4 TP collectives (mappings.cpp)
  if (l.tp > 1 && l.sequence_parallel) ops += 1;  // the norms' and biases' gradient sum
  if (l.cp > 1) {
    // Ring attention over cp blocks (runtime/src/context_parallel.cpp): per block the key
    // positions, the scores matmul, scale, mask, masked fill, log-sum-exp, subtraction, exp and
    // the matmul with V (9); cp - 1 ring shifts, stacking K and V; the merge: stack and
    // log-sum-exp of the blocks' lse, a zero output and per block sub, exp, mul, add.
    const double p = double(l.cp);
    ops += 9 * p + (p - 1) + 1 + 3 + 4 * p - 6;  // replaces the 6 operators of the core
  }
  return ops;
}

// A MoE layer (runtime/src/expert_parallel.cpp): the dense layer without its MLP (FC1, act,
// FC2 = 3 operators), plus the router (linear, softmax, top-k, renormalisation 2), sorting the
// assignments (reshape, sort, index, bincount and its host copy = 5), per local expert FC1,
// activation, FC2 and the index of its rows (4), the weighted combine (mul, index_add and the
// zeros it adds into = 3); with ep > 1 the counts exchange and the dispatch and combine
// all-to-alls (3) and the experts' gradient scaling (4).
double moe_layer_fwd_ops(const Model& m, const Layout& l) {
  const double experts_local = double(m.moe.experts) / double(std::max<int32_t>(1, l.ep));
  double ops = dense_layer_fwd_ops(m, l) - (m.gated_mlp ? 5 : 3);
  ops += 5 + 5 + 4 * experts_local + 3;
  if (l.ep > 1) ops += 3 + 4;
  return ops;
}
}  // namespace

LayerOps layer_ops(const Model& m, const Layout& l) {
  LayerOps r;
  r.dense_fwd = dense_layer_fwd_ops(m, l);
  r.moe_fwd = m.is_moe() ? moe_layer_fwd_ops(m, l) : 0.0;
  const double share = m.is_moe() ? double(m.moe_layers()) / double(m.layers) : 0.0;
  r.fwd = (1 - share) * r.dense_fwd + share * r.moe_fwd;
  return r;
}

// Token and position embedding lookups, the positions and their sum (4); under SP the scatter.
double embedding_ops(const Layout& l) { return 4 + (l.tp > 1 && l.sequence_parallel ? 1 : 0); }
// Final LayerNorm, the head matmul, cross-entropy (log-softmax, NLL, the mean) and reshapes.
double head_ops(const Layout& l) { return 6 + (l.tp > 1 && l.sequence_parallel ? 2 : 0); }

double layer_op_overhead_fwd_s(const Model& m, const Cluster& c, const Layout& l) {
  return c.gpu.op_overhead_s * layer_ops(m, l).fwd;
}
double layer_op_overhead_bwd_s(const Model& m, const Cluster& c, const Layout& l) {
  return c.gpu.op_overhead_s * layer_ops(m, l).bwd();
}
double embedding_op_overhead_s(const Cluster& c, const Layout& l) {
  return c.gpu.op_overhead_s * 3.0 * embedding_ops(l);
}
double head_op_overhead_s(const Cluster& c, const Layout& l) {
  return c.gpu.op_overhead_s * 3.0 * head_ops(l);
}

double call_overhead_s(Collective op, int64_t ranks, const Cluster& c) {
  if (ranks <= 1) return 0.0;
  const auto& o = c.intra.call_overhead_s;
  switch (op) {
    case Collective::AllReduce: return o.all_reduce;
    case Collective::AllGather: return o.all_gather;
    case Collective::ReduceScatter: return o.reduce_scatter;
    case Collective::Broadcast: return o.all_reduce;
    case Collective::SendRecv: return o.send_recv;
    case Collective::AllToAll: return double(ranks - 1) * o.send_recv;  // a send/recv per peer
  }
  return 0.0;
}

}  // namespace parplan::cost
