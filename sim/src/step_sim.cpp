#include "parplan/sim/step_sim.hpp"

#include <simgrid/plugins/load.h>
#include <xbt/log.h>

#include <algorithm>
#include <chrono>
#include <deque>
#include <memory>
#include <simgrid/s4u/Actor.hpp>
#include <simgrid/s4u/Barrier.hpp>
#include <simgrid/s4u/Comm.hpp>
#include <simgrid/s4u/Engine.hpp>
#include <simgrid/s4u/Mailbox.hpp>
#include <simgrid/s4u/Semaphore.hpp>
#include <string>

#include "comm.hpp"
#include "names.hpp"
#include "parplan/cost/pipeline.hpp"
#include "parplan/model/error.hpp"
#include "parplan/sim/trace.hpp"
#include "schedule.hpp"

namespace sg4 = simgrid::s4u;

namespace parplan::sim {

using cost::Algorithm;
using cost::Collective;
using detail::CommGroup;

namespace {

double now() {
  return sg4::Engine::get_clock();
}

// One queued collective for a communication stream (an actor standing for a CUDA stream that
// runs NCCL kernels in order, concurrently with the compute stream).
struct Job {
  Collective op = Collective::AllReduce;
  double bytes = 0;
  const CommGroup* group = nullptr;
  int me = 0;
  Algorithm algo = Algorithm::Ring;
  bool stop = false;
};

struct Stream {
  std::deque<Job> queue;
  sg4::SemaphorePtr ready = sg4::Semaphore::create(0);
  sg4::SemaphorePtr done = sg4::Semaphore::create(0);
  void push(const Job& j) {
    queue.push_back(j);
    ready->release();
  }
};

struct Rank {
  int64_t rank = 0;
  int tp = 0, cp = 0, dp = 0, pp = 0;
  bool full = true;  // runs the whole schedule (else: DP collectives only, driven by its leader)
  sg4::Host* host = nullptr;
  std::shared_ptr<CommGroup> tpg, cpg, dpg;
  int tp_me = 0, cp_me = 0, dp_me = 0;
  Stream dp_stream, cp_stream, z3_stream;
  std::vector<Rank*> ghosts;  // replicas whose DP traffic follows this rank's
  int z3_issued = 0, z3_waited = 0;
  double pending = 0;       // seconds of local work not yet slept (see StepSim::flush)
  double pending_grad = 0;  // gradient bytes produced but not yet in a bucket
  int buckets = 0;          // buckets queued on dp_stream
  bool gather_waited = false;
  RankResult res;
  double pipe_end = 0, pipe_busy = 0;
};

class StepSim {
 public:
  StepSim(const Plan& plan, const cost::StepWork& w, const SimOptions& opt, Platform& p)
      : plan_(plan), w_(w), opt_(opt), p_(p), comms_(p) {
    const Layout& l = plan.layout;
    P_ = l.pp;
    v_ = std::max(1, l.virtual_stages);
    m_ = static_cast<int>(std::max<int64_t>(1, w.micro_batches));
    L_ = static_cast<int>(std::max<int64_t>(1, w.layers_per_chunk));
    gran_ = opt.granularity;
    if (gran_ == Granularity::Auto)
      gran_ = (l.cp > 1 || l.zero >= 3) ? Granularity::Layer : Granularity::Chunk;
    if (gran_ == Granularity::Chunk && (l.cp > 1 || l.zero >= 3)) gran_ = Granularity::Layer;
    aggregate_ = opt.aggregate_replicas && l.dp > 1 && l.zero < 3;
    const double grad_elem = plan.training.fp32_grad_accum ? 4.0 : plan.training.element_bytes();
    const double layers_here = static_cast<double>(L_) * v_;
    layer_grad_bytes_ = w.dp_grad_bytes / layers_here;
    // DDP / Megatron bucket: 25M elements of gradient (as cost::step_work).
    bucket_cap_ = 25e6 * cost::state_bytes_per_param(plan.training).grads;
    param_bytes_ = w.dp_grad_bytes / grad_elem * plan.training.element_bytes();
    z3_bytes_ = param_bytes_ / layers_here;
    comms_.trace = &trace_;
    trace_.enabled = opt.trace;
    // TP groups whose NVSwitch/NVLink ports carry no other traffic (no other group has two members
    // on a node, no NIC traffic through the GPU's link): their collectives cannot contend, so
    // they run in closed form (exclusive_time), and - when every GPU has its own NIC - the TP
    // ranks of a group are identical and only TP rank 0 is simulated.
    const Cluster& c = plan.cluster;
    const cost::Placement pl = cost::place(l, c);
    const int64_t nodes = (l.gpus() + c.gpus_per_node - 1) / c.gpus_per_node;
    const bool nvlink = c.intra.kind == IntraKind::NvSwitch || c.intra.kind == IntraKind::NvLink;
    tp_exclusive_ = opt.aggregate_replicas && l.tp > 1 && l.tp <= c.gpus_per_node &&
                    (nvlink || nodes == 1) && (l.cp == 1 || pl.cp.per_node == 1) &&
                    (l.dp == 1 || pl.dp.per_node == 1) && (l.pp == 1 || pl.pp.per_node == 1);
    lanes_ = tp_exclusive_ && (nodes == 1 || c.inter.nics_per_node >= c.gpus_per_node);
  }

  void setup() {
    const Layout& l = plan_.layout;
    const int64_t n = l.gpus();
    ranks_.resize(static_cast<size_t>(n));
    for (int64_t r = 0; r < n; ++r) {
      auto rk = std::make_unique<Rank>();
      rk->rank = r;
      rk->tp = static_cast<int>(r % l.tp);
      rk->cp = static_cast<int>((r / l.tp) % l.cp);
      rk->dp = static_cast<int>((r / (int64_t(l.tp) * l.cp)) % l.dp);
      rk->pp = static_cast<int>(r / (int64_t(l.tp) * l.cp * l.dp));
      rk->full = (!aggregate_ || rk->dp == 0) && (!lanes_ || rk->tp == 0);
      rk->host = p_.hosts[static_cast<size_t>(r)];
      rk->res.rank = r;
      ranks_[static_cast<size_t>(r)] = std::move(rk);
    }
    // Groups, Megatron rank order: tp fastest, then cp, dp, pp.
    for (auto& rk : ranks_) {
      Rank& r = *rk;
      if (r.tp == 0 && r.full && l.tp > 1) {
        std::vector<int64_t> g;
        for (int i = 0; i < l.tp; ++i) g.push_back(r.rank + i);
        auto grp = comms_.make_group(g);
        for (int i = 0; i < l.tp; ++i)
          ranks_[static_cast<size_t>(r.rank + i)]->tpg = grp,
                                              ranks_[static_cast<size_t>(r.rank + i)]->tp_me = i;
      }
      if (r.cp == 0 && r.full && l.cp > 1) {
        std::vector<int64_t> g;
        for (int i = 0; i < l.cp; ++i) g.push_back(r.rank + int64_t(i) * l.tp);
        auto grp = comms_.make_group(g);
        for (int i = 0; i < l.cp; ++i)
          ranks_[static_cast<size_t>(g[static_cast<size_t>(i)])]->cpg = grp,
          ranks_[static_cast<size_t>(g[static_cast<size_t>(i)])]->cp_me = i;
      }
      if (r.dp == 0 && l.dp > 1 && (!lanes_ || r.tp == 0)) {
        std::vector<int64_t> g;
        for (int i = 0; i < l.dp; ++i) g.push_back(r.rank + int64_t(i) * l.tp * l.cp);
        auto grp = comms_.make_group(g);
        for (int i = 0; i < l.dp; ++i) {
          Rank& m = *ranks_[static_cast<size_t>(g[static_cast<size_t>(i)])];
          m.dpg = grp;
          m.dp_me = i;
          if (aggregate_ && i > 0) r.ghosts.push_back(&m);
        }
      }
    }
    // Algorithms, as the cost model picks them for each group's shape.
    const Cluster& c = plan_.cluster;
    const Rank& r0 = *ranks_[0];
    if (r0.tpg) {
      tp_ar_ = detail::resolve(Algorithm::Auto, Collective::AllReduce, w_.tp_bytes, *r0.tpg, c);
      tp_ag_ = detail::resolve(Algorithm::Auto, Collective::AllGather, w_.tp_bytes, *r0.tpg, c);
      tp_rs_ = detail::resolve(Algorithm::Auto, Collective::ReduceScatter, w_.tp_bytes, *r0.tpg, c);
    }
    if (r0.dpg) {
      dp_op_ = l.zero == 0 ? Collective::AllReduce : Collective::ReduceScatter;
      dp_algo_ = detail::resolve(Algorithm::Auto, dp_op_, std::min(bucket_cap_, w_.dp_grad_bytes),
                                 *r0.dpg, c);
      ag_algo_ = detail::resolve(Algorithm::Auto, Collective::AllGather, param_bytes_, *r0.dpg, c);
      z3_algo_ = detail::resolve(Algorithm::Auto, Collective::AllGather, z3_bytes_, *r0.dpg, c);
    }
    if (r0.cpg) cp_algo_ = Algorithm::Ring;
    int64_t full = 0;
    for (auto& rk : ranks_) full += rk->full;
    barrier_ = sg4::Barrier::create(static_cast<unsigned>(full));
    for (auto& rk : ranks_) {
      Rank* r = rk.get();
      const std::string id = std::to_string(r->rank);
      if (r->full) sg4::Actor::create("rank" + id, r->host, [this, r] { run_rank(*r); });
      if (r->dpg) sg4::Actor::create("dp" + id, r->host, [this, r] { serve(*r, r->dp_stream); });
      if (r->full && r->cpg)
        sg4::Actor::create("cp" + id, r->host, [this, r] { serve(*r, r->cp_stream); });
      if (r->full && r->dpg && plan_.layout.zero >= 3)
        sg4::Actor::create("z3" + id, r->host, [this, r] { serve(*r, r->z3_stream); });
    }
  }

  SimResult results() {
    SimResult out;
    double step = 0, pipe_end = 0;
    for (auto& rk : ranks_)
      if (rk->full)
        step = std::max(step, rk->res.end_s), pipe_end = std::max(pipe_end, rk->pipe_end);
    out.step_time_s = step;
    for (auto& rk : ranks_) {
      if (!rk->full) continue;
      RankResult r = rk->res;
      r.exposed_comm_s = r.tp_s + r.cp_s + r.pp_s + r.dp_s;
      r.bubble_s = std::max(0.0, pipe_end - rk->pipe_busy);
      r.idle_s = std::max(0.0, step - r.compute_s - r.exposed_comm_s - r.bubble_s);
      out.ranks.push_back(r);
      ++out.simulated_gpus;
    }
    out.events = comms_.messages + execs_;
    if (opt_.trace) out.trace = trace_.to_json();
    return out;
  }

 private:
  // ---- communication streams -------------------------------------------------------------
  void serve(Rank&, Stream& s) {
    for (;;) {
      s.ready->acquire();
      Job j = s.queue.front();
      s.queue.pop_front();
      if (j.stop) return;
      detail::run_collective(comms_, *j.group, j.me, j.op, j.bytes, j.algo);
      s.done->release();
    }
  }
  // Queues a DP collective on this rank's stream and on its ghost replicas' streams.
  // Gradients of one layer are ready: close a bucket when it reaches the cap (or when `flush`).
  void grads_ready(Rank& r, double bytes, bool flush) {
    if (!r.dpg || !(layer_grad_bytes_ > 0)) return;
    r.pending_grad += bytes;
    if (r.pending_grad >= bucket_cap_ || (flush && r.pending_grad > 0)) {
      push_dp(r, dp_op_, r.pending_grad, dp_algo_);
      r.pending_grad = 0;
      ++r.buckets;
    }
  }
  void push_dp(Rank& r, Collective op, double bytes, Algorithm algo) {
    flush(r);
    r.dp_stream.push({op, bytes, r.dpg.get(), r.dp_me, algo, false});
    for (Rank* g : r.ghosts) g->dp_stream.push({op, bytes, g->dpg.get(), g->dp_me, algo, false});
  }

  // ---- time accounting --------------------------------------------------------------------
  void record(Rank& r, const char* cat, std::string name, double t0) {
    if (trace_.enabled && r.rank < opt_.trace_max_ranks && now() > t0)
      trace_.event({std::move(name), cat, r.rank, t0, now()});
  }
  // Work that interacts with nobody (compute, TP collectives on exclusive links) accumulates in
  // r.pending and becomes one sleep before the rank's next interaction: one event, same times.
  void exec(Rank& r, double seconds, const std::string& name) {
    if (!(seconds > 0)) return;
    if (trace_.enabled && r.rank < opt_.trace_max_ranks)
      trace_.event({name, "compute", r.rank, now() + r.pending, now() + r.pending + seconds});
    r.pending += seconds;
    r.res.compute_s += seconds;
  }
  void flush(Rank& r) {
    if (!(r.pending > 0)) return;
    sg4::this_actor::sleep_for(r.pending);
    ++execs_;
    r.pending = 0;
  }
  // `count` collectives of `bytes` each, run as one flow set of count * bytes plus the latency
  // of the other count - 1 (exact without contention; see docs/simulation.md).
  void tp_coll(Rank& r, Collective op, double bytes, int count) {
    if (!r.tpg || !(bytes > 0) || count <= 0) return;
    const Algorithm a = op == Collective::AllReduce   ? tp_ar_
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
  void tp_block(Rank& r, int n) {
    if (n <= 0) return;
    if (w_.tp_op == Collective::AllReduce) {
      tp_coll(r, Collective::AllReduce, w_.tp_bytes, n);
    } else {
      tp_coll(r, Collective::AllGather, w_.tp_bytes, (n + 1) / 2);
      tp_coll(r, Collective::ReduceScatter, w_.tp_bytes, n / 2);
    }
  }
  Collective tp_op_at(int k) const {
    if (w_.tp_op == Collective::AllReduce) return Collective::AllReduce;
    return k % 2 == 0 ? Collective::AllGather : Collective::ReduceScatter;
  }

  // ZeRO-3: gather this layer's parameters (issued one layer ahead: prefetch), then wait for it.
  void z3_gather(Rank& r, bool first_in_op, bool last_in_op) {
    if (!r.dpg || plan_.layout.zero < 3 || !(z3_bytes_ > 0)) return;
    auto issue = [&] {
      r.z3_stream.push({Collective::AllGather, z3_bytes_, r.dpg.get(), r.dp_me, z3_algo_, false});
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

  // Context parallel exchange overlapped with the attention core it feeds.
  double cp_overlap(Rank& r, double bytes, double attention_s, const std::string& name) {
    if (!r.cpg || !(bytes > 0)) return 0;
    flush(r);
    // Ring attention: cp - 1 steps, each passing this rank's K/V block to the next rank.
    r.cp_stream.push({Collective::AllGather, bytes * r.cpg->size() / std::max(1, r.cpg->size() - 1),
                      r.cpg.get(), r.cp_me, cp_algo_, false});
    exec(r, attention_s, name + " attn");
    flush(r);
    const double t0 = now();
    r.cp_stream.done->acquire();
    r.res.cp_s += now() - t0;
    record(r, "cp", "cp exchange", t0);
    return attention_s;
  }

  void layer_forward(Rank& r, const std::string& name, bool first, bool last) {
    const auto& lc = w_.layer;
    z3_gather(r, first, last);
    double rest = lc.fwd_s - cp_overlap(r, w_.cp_fwd_bytes, lc.fwd_attention_core_s, name);
    const int n = r.tpg ? w_.tp_fwd_collectives : 0;
    if (n == 0) return exec(r, rest, name);
    for (int k = 0; k < n; ++k) {
      exec(r, rest / n, name);
      tp_coll(r, tp_op_at(k), w_.tp_bytes, 1);
    }
  }
  void layer_backward(Rank& r, const std::string& name, bool first, bool last) {
    const auto& lc = w_.layer;
    z3_gather(r, first, last);
    double rest = lc.recompute_s + lc.bwd_s -
                  cp_overlap(r, w_.cp_bwd_bytes, 2 * lc.fwd_attention_core_s, name);
    const int n = r.tpg ? w_.tp_bwd_collectives : 0;
    if (n == 0) return exec(r, rest, name);
    for (int k = 0; k < n; ++k) {
      exec(r, rest / n, name);
      tp_coll(r, tp_op_at(k), w_.tp_bytes, 1);
    }
  }

  // ---- pipeline transfers -----------------------------------------------------------------
  int64_t peer(const Rank& r, int stage) const {
    const Layout& l = plan_.layout;
    return ((int64_t(stage) * l.dp + r.dp) * l.cp + r.cp) * l.tp + r.tp;
  }
  void send(Rank& r, int64_t dst, char dir, int chunk) {
    flush(r);
    comms_.flow_started(r.rank, dst);
    auto* mb = sg4::Mailbox::by_name(
        detail::cat({std::string(1, dir), std::to_string(dst), ".", std::to_string(chunk)}));
    mb->put_init(new double(now()), static_cast<uint64_t>(std::max(0.0, w_.pp_bytes)))->detach();
    comms_.messages++;
  }
  void recv(Rank& r, int64_t src, char dir, int chunk) {
    flush(r);
    auto* mb = sg4::Mailbox::by_name(
        detail::cat({std::string(1, dir), std::to_string(r.rank), ".", std::to_string(chunk)}));
    const double t0 = now();
    double* posted = mb->get<double>();
    // Waiting for a sender that has not reached its send yet is pipeline bubble; the rest is
    // the transfer itself.
    const double from = std::max(t0, *posted);
    delete posted;
    comms_.flow_ended(src, r.rank);
    r.res.pp_s += std::max(0.0, now() - from);
    record(r, "pp", "pp recv", t0);
  }
  void recv_input(Rank& r, const detail::PipeOp& op) {
    if (op.forward) {
      if (r.pp > 0)
        recv(r, peer(r, r.pp - 1), 'f', op.chunk);
      else if (op.chunk > 0)
        recv(r, peer(r, P_ - 1), 'f', op.chunk);
    } else {
      if (r.pp < P_ - 1)
        recv(r, peer(r, r.pp + 1), 'b', op.chunk);
      else if (op.chunk < v_ - 1)
        recv(r, peer(r, 0), 'b', op.chunk);
    }
  }
  void send_output(Rank& r, const detail::PipeOp& op) {
    if (op.forward) {
      if (r.pp < P_ - 1)
        send(r, peer(r, r.pp + 1), 'f', op.chunk);
      else if (op.chunk < v_ - 1)
        send(r, peer(r, 0), 'f', op.chunk + 1);
    } else {
      if (r.pp > 0)
        send(r, peer(r, r.pp - 1), 'b', op.chunk);
      else if (op.chunk > 0)
        send(r, peer(r, P_ - 1), 'b', op.chunk - 1);
    }
  }

  // ---- one rank's step --------------------------------------------------------------------
  void run_op(Rank& r, const detail::PipeOp& op, bool last_backward_of_chunk) {
    const bool embed = r.pp == 0 && op.chunk == 0;
    const bool head = r.pp == P_ - 1 && op.chunk == v_ - 1;
    const std::string name =
        trace_.enabled ? detail::cat({op.forward ? "F" : "B", std::to_string(op.microbatch),
                                      v_ > 1 ? "c" : "", v_ > 1 ? std::to_string(op.chunk) : ""})
                       : std::string();
    const double share = op.forward ? 1.0 / 3 : 2.0 / 3;  // fwd : bwd = 1 : 2
    if (op.forward) {
      if (embed) exec(r, w_.embedding_s * share, name + " embedding");
      if (gran_ == Granularity::Chunk) {
        exec(r, L_ * w_.layer.fwd_s, name);
        tp_block(r, r.tpg ? L_ * w_.tp_fwd_collectives : 0);
      } else {
        for (int i = 0; i < L_; ++i) layer_forward(r, name, i == 0, i == L_ - 1);
      }
      if (head) exec(r, w_.logits_s * share, name + " logits");
      return;
    }
    if (head) exec(r, w_.logits_s * share, name + " logits");
    // ZeRO-2/3 keep a gradient shard only: reduce-scatter after every micro-batch; otherwise the
    // buckets are reduced during the last micro-batch's backward.
    const bool reduce = r.dpg && (plan_.layout.zero >= 2 || last_backward_of_chunk);
    if (gran_ == Granularity::Chunk && !reduce) {
      exec(r, L_ * (w_.layer.recompute_s + w_.layer.bwd_s), name);
      tp_block(r, r.tpg ? L_ * w_.tp_bwd_collectives : 0);
    } else {
      for (int i = 0; i < L_; ++i) {
        layer_backward(r, name, i == 0, i == L_ - 1);
        // Buckets overlap the rest of the backward pass.
        if (reduce) grads_ready(r, layer_grad_bytes_, i == L_ - 1 && op.chunk == 0);
      }
    }
    if (embed) exec(r, w_.embedding_s * share, name + " embedding");
  }

  void run_rank(Rank& r) {
    const auto ops = detail::stage_schedule(plan_.layout.schedule, P_, r.pp, v_, m_);
    std::vector<size_t> last_bwd(static_cast<size_t>(v_), ops.size());
    for (size_t i = 0; i < ops.size(); ++i)
      if (!ops[i].forward) last_bwd[static_cast<size_t>(ops[i].chunk)] = i;
    // ZeRO-1/2: the all-gather of the parameters updated by the previous step overlaps this
    // step's first micro-batch of forward work (steady state of consecutive steps).
    const bool gather =
        r.dpg && (plan_.layout.zero == 1 || plan_.layout.zero == 2) && param_bytes_ > 0;
    if (gather) push_dp(r, Collective::AllGather, param_bytes_, ag_algo_);
    int forwards = 0;
    for (size_t i = 0; i < ops.size(); ++i) {
      recv_input(r, ops[i]);
      run_op(r, ops[i], i == last_bwd[static_cast<size_t>(ops[i].chunk)]);
      send_output(r, ops[i]);
      if (gather && ops[i].forward && ++forwards == v_) {
        flush(r);
        const double t0 = now();
        r.dp_stream.done->acquire();
        r.res.dp_s += now() - t0;
        record(r, "dp", "zero param all-gather", t0);
      }
    }
    flush(r);
    r.pipe_end = now();
    r.pipe_busy = r.res.compute_s + r.res.tp_s + r.res.cp_s + r.res.pp_s + r.res.dp_s;
    if (r.dpg) {
      grads_ready(r, 0, true);
      flush(r);
      const double t0 = now();
      for (; r.buckets > 0; --r.buckets) r.dp_stream.done->acquire();
      r.res.dp_s += now() - t0;
      record(r, "dp", "dp grad reduce (exposed)", t0);
    }
    exec(r, w_.optimizer_s + w_.offload_s, "optimizer");
    Job stop;
    stop.stop = true;
    if (r.dpg) {
      r.dp_stream.push(stop);
      for (Rank* g : r.ghosts) g->dp_stream.push(stop);
    }
    if (r.cpg) r.cp_stream.push(stop);
    if (r.dpg && plan_.layout.zero >= 3) r.z3_stream.push(stop);
    // Gradient-norm all-reduce of the optimizer step synchronises every rank.
    flush(r);
    const double t0 = now();
    barrier_->wait();
    record(r, "idle", "step end sync", t0);
    r.res.end_s = now();
  }

  const Plan& plan_;
  const cost::StepWork& w_;
  const SimOptions& opt_;
  Platform& p_;
  detail::Comms comms_;
  Trace trace_;
  std::vector<std::unique_ptr<Rank>> ranks_;
  sg4::BarrierPtr barrier_;
  uint64_t execs_ = 0;
  int P_ = 1, v_ = 1, m_ = 1, L_ = 1;
  Granularity gran_ = Granularity::Chunk;
  bool aggregate_ = false, tp_exclusive_ = false, lanes_ = false;
  double layer_grad_bytes_ = 0, bucket_cap_ = 0, param_bytes_ = 0, z3_bytes_ = 0;
  Algorithm tp_ar_ = Algorithm::Ring, tp_ag_ = Algorithm::Ring, tp_rs_ = Algorithm::Ring;
  Algorithm dp_algo_ = Algorithm::Ring, ag_algo_ = Algorithm::Ring, z3_algo_ = Algorithm::Ring;
  Algorithm cp_algo_ = Algorithm::Ring;
  Collective dp_op_ = Collective::AllReduce;
};

}  // namespace

SimResult simulate_step(const Plan& plan, const cost::StepWork& work, const SimOptions& opt) {
  Diagnostics d;
  validate(plan.layout, plan.model, plan.cluster, plan.training, d);
  d.throw_if_errors("plan: layout " + describe(plan.layout) + " for " + plan.model.name + " on " +
                    plan.cluster.name);
  check_cluster(plan.cluster, plan.layout.gpus());
  if (plan.layout.schedule == Schedule::Interleaved && plan.layout.virtual_stages > 1 &&
      work.micro_batches % plan.layout.pp != 0)
    throw Error("cannot simulate the interleaved schedule: micro-batches per pipeline (" +
                std::to_string(work.micro_batches) + ") must be a multiple of pp (" +
                std::to_string(plan.layout.pp) + ")");
  const auto wall0 = std::chrono::steady_clock::now();
  xbt_log_control_set("root.thresh:critical");
  sg4::Engine engine("parplan-sim");
  configure_network(opt.network);
  sg_link_load_plugin_init();
  Platform platform = build_platform(plan.cluster, plan.layout.gpus());
  for (auto& l : platform.links) sg_link_load_track(l.link);
  StepSim sim(plan, work, opt, platform);
  sim.setup();
  engine.run();
  SimResult r = sim.results();
  r.topology = platform.topology;
  for (auto& l : platform.links) {
    const double bytes = sg_link_get_cum_load(l.link);
    if (!(bytes > 0)) continue;
    const double bw = l.link->get_bandwidth();
    r.links.push_back({l.link->get_name(), to_string(l.cls), bytes,
                       r.step_time_s > 0 && bw > 0 ? bytes / (bw * r.step_time_s) : 0});
  }
  std::sort(r.links.begin(), r.links.end(),
            [](const LinkResult& a, const LinkResult& b) { return a.utilization > b.utilization; });
  if (r.links.size() > 16) r.links.resize(16);
  try {
    r.analytical_step_time_s =
        cost::predict(plan.model, plan.cluster, plan.training, plan.layout).step_time_s;
  } catch (const Error&) {
    r.analytical_step_time_s = 0;
  }
  r.wall_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - wall0).count();
  return r;
}

SimResult simulate_step(const Plan& plan, const SimOptions& opt) {
  Diagnostics d;
  validate(plan.layout, plan.model, plan.cluster, plan.training, d);
  d.throw_if_errors("plan: layout " + describe(plan.layout) + " for " + plan.model.name + " on " +
                    plan.cluster.name);
  const cost::StepWork w = cost::step_work(plan.model, plan.cluster, plan.training, plan.layout);
  return simulate_step(plan, w, opt);
}

}  // namespace parplan::sim
