// Per-layer work of the step simulation: TP collectives (closed form on exclusive links),
// context-parallel exchange (step_cp.cpp), ZeRO-3 parameter gathers, DP gradient buckets and the streams
// that run them (see step_state.hpp).
#include <algorithm>
#include <cmath>
#include <string>

#include "names.hpp"
#include "step_state.hpp"

namespace parplan::sim::detail {

void StepSim::serve(Rank&, Stream& s) {
  for (;;) {
    s.ready->acquire();
    Job j = s.queue.front();
    s.queue.pop_front();
    if (j.stop) return;
    const double t0 = now();
    detail::run_collective(comms_, *j.group, j.me, j.op, j.bytes * j.count, j.algo);
    if (j.count > 1)
      sg4::this_actor::sleep_for((j.count - 1) * detail::latency_s(j.op, j.algo, *j.group));
    s.busy_s += now() - t0;
    s.done->release();
  }
}

// Queues a DP collective on this rank's stream and on its ghost replicas' streams.
// Gradients of one layer are ready: close a bucket when it reaches the cap (or when `flush`).
void StepSim::grads_ready(Rank& r, double bytes, bool flush) {
  if (!r.dpg || !(layer_grad_bytes_ > 0)) return;
  r.pending_grad += bytes;
  if (r.pending_grad >= bucket_cap_ || (flush && r.pending_grad > 0)) {
    push_dp(r, dp_op_, r.pending_grad, dp_algo_);
    r.pending_grad = 0;
    ++r.buckets;
  }
}

// The gradients held back (overlap_grad_reduce off) as the framework's buckets: ceil(bytes /
// bucket) equal ones, as cost/overlap.cpp prices them.
void StepSim::push_buckets(Rank& r) {
  if (!r.dpg || !(r.pending_grad > 0)) return;
  const double units = std::max(1.0, std::ceil(r.pending_grad / bucket_cap_ - 1e-9));
  for (int k = 0; k < static_cast<int>(units); ++k) {
    push_dp(r, dp_op_, r.pending_grad / units, dp_algo_);
    ++r.buckets;
  }
  r.pending_grad = 0;
}

void StepSim::wait_buckets(Rank& r, const char* what) {
  flush(r);
  const double t0 = now();
  for (; r.buckets > 0; --r.buckets) r.dp_stream.done->acquire();
  r.res.dp_s += now() - t0;
  record(r, "dp", what, t0);
}

void StepSim::push_dp(Rank& r, Collective op, double bytes, const Choice& algo) {
  flush(r);
  r.dp_stream.push({op, bytes, r.dpg.get(), r.dp_me, algo, false});
  for (Rank* g : r.ghosts) g->dp_stream.push({op, bytes, g->dpg.get(), g->dp_me, algo, false});
}

// `count` collectives of `bytes` each, run as one flow set of count * bytes plus the latency
// of the other count - 1 (exact without contention; see docs/simulation.md).
void StepSim::tp_coll(Rank& r, Collective op, double bytes, int count) {
  if (!r.tpg || !(bytes > 0) || count <= 0) return;
  const Choice& a = op == Collective::AllReduce   ? tp_ar_
                      : op == Collective::AllGather ? tp_ag_
                                                    : tp_rs_;
  if (tp_exclusive_) {
    const double t = count * detail::exclusive_time(op, a, bytes, *r.tpg);
    if (trace_.enabled && r.rank < opt_.trace_max_ranks)
      trace_.event({detail::cat({"tp ", cost::to_string(op)}), "tp", r.rank, now() + r.pending,
                    now() + r.pending + t});
    r.pending += t;
    r.res.tp_s += t;
    return;
  }
  flush(r);
  const double t0 = now();
  detail::run_collective(comms_, *r.tpg, r.tp_me, op, bytes * count, a);
  if (count > 1) sg4::this_actor::sleep_for((count - 1) * detail::latency_s(op, a, *r.tpg));
  r.res.tp_s += now() - t0;
  if (trace_.enabled)
    record(r, "tp",
           detail::cat({"tp ", cost::to_string(op), count > 1 ? " x" : "",
                        count > 1 ? std::to_string(count) : ""}),
           t0);
}

void StepSim::tp_block(Rank& r, int n) {
  if (n <= 0) return;
  if (w_.tp_op == Collective::AllReduce) {
    tp_coll(r, Collective::AllReduce, w_.tp_bytes, n);
  } else {
    tp_coll(r, Collective::AllGather, w_.tp_bytes, (n + 1) / 2);
    tp_coll(r, Collective::ReduceScatter, w_.tp_bytes, n / 2);
  }
}

Collective StepSim::tp_op_at(int k) const {
  if (w_.tp_op == Collective::AllReduce) return Collective::AllReduce;
  return k % 2 == 0 ? Collective::AllGather : Collective::ReduceScatter;
}

// ZeRO-3: gather this layer's parameters (issued one layer ahead: prefetch), then wait for it.
void StepSim::z3_gather(Rank& r, bool first_in_op, bool last_in_op) {
  if (!r.dpg || plan_.layout.zero < 3 || !(z3_bytes_ > 0)) return;
  auto issue = [&] {
    r.z3_stream.push({Collective::AllGather, z3_bytes_, r.dpg.get(), r.dp_me, z3_algo_, false});
    for (Rank* g : r.ghosts)
      g->z3_stream.push({Collective::AllGather, z3_bytes_, g->dpg.get(), g->dp_me, z3_algo_, false});
    ++r.z3_issued;
  };
  flush(r);
  if (first_in_op && r.z3_issued == r.z3_waited) issue();
  if (!last_in_op) issue();
  const double t0 = now();
  r.z3_stream.done->acquire();
  ++r.z3_waited;
  r.res.dp_s += now() - t0;
  record(r, "dp", "zero3 gather", t0);
}

void StepSim::layer_forward(Rank& r, const std::string& name, bool first, bool last) {
  const auto& lc = w_.layer;
  z3_gather(r, first, last);
  ulysses(r, {cp_.a2a_q_bytes, cp_.a2a_kv_bytes, cp_.a2a_kv_bytes});
  double rest = lc.fwd_s + hx_.fwd_s - cp_forward_exchange(r, name);
  ulysses(r, {cp_.a2a_o_bytes});
  const int n = r.tpg ? w_.tp_fwd_collectives : 0;
  if (n == 0) return exec(r, rest, name);
  for (int k = 0; k < n; ++k) {
    exec(r, rest / n, name);
    tp_coll(r, tp_op_at(k), w_.tp_bytes, 1);
  }
}

void StepSim::layer_backward(Rank& r, const std::string& name, bool first, bool last) {
  const auto& lc = w_.layer;
  z3_gather(r, first, last);
  ulysses(r, {cp_.a2a_o_bytes});  // dO, then dQ, dK, dV after the attention backward
  // Full recomputation reruns the forward, its K, V exchange included (cost::CpWork).
  double rest = lc.recompute_s + lc.bwd_s + hx_.bwd_s;
  if (plan_.layout.recompute == Recompute::Full) rest -= cp_forward_exchange(r, name);
  const double bwd_attn = 2 * lc.fwd_attention_core_s;
  if (cp_.ring_all_gather && cp_.ring > 1) {
    // K, V gathered again under the local block's backward, then dK, dV passed on under the rest.
    const double local = bwd_attn / cp_.ring;
    rest -= cp_overlap(r, cp_.ring_kv_block_bytes, local, name);
    rest -= cp_overlap(r, cp_.ring_bwd_block_bytes - cp_.ring_kv_block_bytes, bwd_attn - local,
                       name);
  } else {
    rest -= cp_overlap(r, cp_.ring_bwd_block_bytes, bwd_attn, name);
  }
  ulysses(r, {cp_.a2a_q_bytes, cp_.a2a_kv_bytes, cp_.a2a_kv_bytes});
  const int n = r.tpg ? w_.tp_bwd_collectives : 0;
  if (n == 0) return exec(r, rest, name);
  for (int k = 0; k < n; ++k) {
    exec(r, rest / n, name);
    tp_coll(r, tp_op_at(k), w_.tp_bytes, 1);
  }
}

}  // namespace parplan::sim::detail
