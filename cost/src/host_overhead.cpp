#include "parplan/cost/host_overhead.hpp"

#include <algorithm>

#include "parplan/cost/framework.hpp"

namespace parplan::cost {

namespace {
// Forward operators of one layer, eager and unfused, counted per component from the framework's
// inventory (examples/frameworks/*.json "eager_ops"; parplan-runtime.json: runtime/src/gpt.cpp
// and llama_layers.cpp), counting operators that produce a new tensor (views are nearly free):
// 2 norms, the linears (Q, K, V, attention output, FC1, FC2; a gated MLP adds one), the
// row-parallel bias adds, the attention core, merging the heads, the activation (and the gate
// product), 2 residual adds, rotary positions on Q and K, the GQA copies of K and V.
double dense_layer_fwd_ops(const Model& m, const FrameworkBehaviour::EagerOps& o, const Layout& l) {
  if (!o.counted) return 0.0;
  const double linears = m.gated_mlp ? 7 : 6;
  double ops = 2 * (m.norm == Norm::RMSNorm ? o.rmsnorm : o.layernorm) + linears * o.linear +
               (m.linear_bias ? 2 * o.bias_add : 0.0) + o.attention_core + o.merge_heads +
               o.activation + (m.gated_mlp ? o.gated_product : 0.0) + 2 * o.residual_add;
  if (m.position == Position::Rotary) ops += o.rotary;
  if (m.kv_heads > 0 && m.kv_heads < m.heads) ops += o.gqa_copy;
  if (l.tp > 1) ops += 4 * o.tp_collective;  // the 4 TP collectives' autograd functions
  if (l.tp > 1 && l.sequence_parallel) ops += o.sp_grad_sum;
  if (l.cp > 1) {  // ring attention over cp blocks replaces the attention core
    const double p = double(l.cp);
    ops += o.cp_per_block * p + o.cp_per_shift * (p - 1) + o.cp_fixed - o.attention_core;
  }
  return ops;
}

// A MoE layer: the dense layer without its MLP (its linears, activation and gate product), plus
// the router, sorting the assignments, per local expert, the weighted combine; with ep > 1 the
// counts exchange and the all-to-alls, and the experts' gradient scaling.
double moe_layer_fwd_ops(const Model& m, const FrameworkBehaviour::EagerOps& o, const Layout& l) {
  if (!o.counted) return 0.0;
  const double experts_local = double(m.moe.experts) / double(std::max<int32_t>(1, l.ep));
  const double mlp = (m.gated_mlp ? 3 : 2) * o.linear + o.activation + (m.gated_mlp ? o.gated_product : 0.0);
  double ops = dense_layer_fwd_ops(m, o, l) - mlp;
  ops += o.moe_router + o.moe_sort + o.moe_per_expert * experts_local + o.moe_combine;
  if (l.ep > 1) ops += o.moe_ep_exchange + o.moe_ep_grad_scale;
  return ops;
}
const FrameworkBehaviour::EagerOps& eager_ops(const Training& t) {
  return framework_behaviour(t).ops;
}
}  // namespace

LayerOps layer_ops(const Model& m, const Training& t, const Layout& l) {
  const auto& o = eager_ops(t);
  LayerOps r;
  r.backward_per_forward = o.backward_per_forward;
  r.dense_fwd = dense_layer_fwd_ops(m, o, l);
  r.moe_fwd = m.is_moe() ? moe_layer_fwd_ops(m, o, l) : 0.0;
  const double share = m.moe_layer_share();
  r.fwd = (1 - share) * r.dense_fwd + share * r.moe_fwd;
  return r;
}

double embedding_ops(const Training& t, const Layout& l) {
  const auto& o = eager_ops(t);
  return o.embedding + (l.tp > 1 && l.sequence_parallel ? o.sp_embedding : 0.0);
}
double head_ops(const Training& t, const Layout& l) {
  const auto& o = eager_ops(t);
  return o.head + (l.tp > 1 && l.sequence_parallel ? o.sp_head : 0.0);
}

double layer_op_overhead_fwd_s(const Model& m, const Cluster& c, const Training& t, const Layout& l) {
  if (c.gpu.op_overhead_s <= 0) return 0.0;
  return c.gpu.op_overhead_s * layer_ops(m, t, l).fwd;
}
double layer_op_overhead_bwd_s(const Model& m, const Cluster& c, const Training& t, const Layout& l) {
  if (c.gpu.op_overhead_s <= 0) return 0.0;
  return c.gpu.op_overhead_s * layer_ops(m, t, l).bwd();
}
double embedding_op_overhead_s(const Cluster& c, const Training& t, const Layout& l) {
  if (c.gpu.op_overhead_s <= 0) return 0.0;
  return c.gpu.op_overhead_s * (1.0 + eager_ops(t).backward_per_forward) * embedding_ops(t, l);
}
double head_op_overhead_s(const Cluster& c, const Training& t, const Layout& l) {
  if (c.gpu.op_overhead_s <= 0) return 0.0;
  return c.gpu.op_overhead_s * (1.0 + eager_ops(t).backward_per_forward) * head_ops(t, l);
}

double call_overhead_s(Collective op, int64_t ranks, const Cluster& c) {
  if (ranks <= 1) return 0.0;
  const auto& o = c.intra.call_overhead_s;
  const double w = o.sync_wait;  // the late rank's expected stall, per synchronising call
  switch (op) {
    case Collective::AllReduce: return o.all_reduce + w;
    case Collective::AllGather: return o.all_gather + w;
    case Collective::ReduceScatter: return o.reduce_scatter + w;
    case Collective::Broadcast: return o.all_reduce + w;
    case Collective::SendRecv: return o.send_recv + w;
    case Collective::AllToAll: return double(ranks - 1) * (o.send_recv + w);  // a send/recv per peer
  }
  return 0.0;
}

}  // namespace parplan::cost
