#include "parplan/sim/step_sim.hpp"

#include <simgrid/plugins/load.h>
#include <xbt/log.h>

#include <algorithm>
#include <cmath>
#include <chrono>
#include <memory>
#include <simgrid/s4u/Actor.hpp>
#include <simgrid/s4u/Engine.hpp>
#include <string>

#include "names.hpp"
#include "parplan/cost/framework.hpp"
#include "parplan/cost/pipeline.hpp"
#include "parplan/cost/sharding.hpp"
#include "parplan/model/error.hpp"
#include "step_state.hpp"

namespace parplan::sim::detail {

// The three parts of the step whose simulated (critical rank) and analytical times differ most.
std::vector<StepPart> largest_differences(const SimResult& r, const cost::TimeBreakdown& a);

StepSim::StepSim(const Plan& plan, const cost::StepWork& w, const SimOptions& opt, Platform& p)
    : plan_(plan), w_(w), hx_(cost::layer_host_excess(w)), opt_(opt), p_(p),
      comms_(p, plan.cluster) {
  const Layout& l = plan.layout;
  P_ = l.pp;
  v_ = std::max(1, l.virtual_stages);
  m_ = static_cast<int>(std::max<int64_t>(1, w.micro_batches));
  // Each stage's layers as the plan splits them (uneven first/last stages included).
  const std::vector<int64_t> split = cost::chunk_layer_split(plan.model, l);
  int64_t first_layer = 0;
  for (int64_t n : split) {
    chunk_layers_.push_back(static_cast<int>(n));
    chunk_first_.push_back(first_layer);
    first_layer += n;
  }
  gran_ = opt.granularity;
  if (gran_ == Granularity::Auto)
    gran_ = (l.cp > 1 || l.zero >= 3) ? Granularity::Layer : Granularity::Chunk;
  if (gran_ == Granularity::Chunk && (l.cp > 1 || l.zero >= 3)) gran_ = Granularity::Layer;
  // StepWork's DP bytes are stage 0's (cost/overlap.cpp): per layer, as stage 0 holds them.
  double layers_here = 0;
  for (int k = 0; k < v_; ++k) layers_here += chunk_layers_[static_cast<size_t>(k * P_)];
  layers_here = std::max(1.0, layers_here);
  layer_grad_bytes_ = w.dp_grad_bytes / layers_here;
  // Gradient buckets as the framework fills them (cost/overlap.cpp dp_work): bucket_elements in
  // the reduce dtype; 0 (FSDP): one per layer.
  const cost::FrameworkBehaviour& fw = cost::framework_behaviour(plan.training);
  const double reduce_elem = fw.grad_reduce_bytes > 0
                                 ? fw.grad_reduce_bytes
                                 : cost::state_bytes_per_param(plan.training).grads;
  bucket_cap_ = fw.grad_bucket_elements > 0 ? fw.grad_bucket_elements * reduce_elem
                                            : layer_grad_bytes_;
  reduce_overlap_ = l.zero >= 3 ? true : cost::resolve(plan.training.overlap_grad_reduce,
                                                        fw.overlap_grad_reduce);
  gather_overlap_ = cost::resolve(plan.training.overlap_param_gather, fw.overlap_param_gather);
  // Replica 0 alone runs the schedule when the replicas are identical: below ZeRO-3 (ghost DP
  // streams on every replica), or at any stage when the DP group is symmetric (comm.hpp; ghosts on
  // its first node only, ZeRO-3's gathers too) and runs no tree all-reduce (whose nodes differ).
  // The DP group: the dp ranks tp x cp apart, or - where the framework reduces and shards over
  // DP x CP (cost/sharding.hpp states_over_cp) - the dp x cp ranks tp apart, as the cost model
  // prices it. Symmetric only if its first node holds replica 0's members (the simulated ones).
  dp_over_cp_ = cost::states_over_cp(plan.training, l);
  dp_members_ = int64_t(l.dp) * (dp_over_cp_ ? l.cp : 1);
  dp_stride_ = dp_over_cp_ ? int64_t(l.tp) : int64_t(l.tp) * l.cp;
  if (opt.aggregate_replicas && l.dp > 1) {
    std::vector<int64_t> g;
    for (int64_t i = 0; i < dp_members_; ++i) g.push_back(i * dp_stride_);
    if (comms_.symmetric_reps(g) >= (dp_over_cp_ ? l.cp : 1)) {
      const auto probe = comms_.make_group(g);
      const Collective op = l.zero == 0 ? Collective::AllReduce : Collective::ReduceScatter;
      const double bucket = std::min(bucket_cap_, w.dp_grad_bytes);
      sym_dp_ = detail::resolve(Algorithm::Auto, op, bucket, *probe, plan.cluster).algo !=
                Algorithm::Tree;
    }
  }
  aggregate_ = opt.aggregate_replicas && l.dp > 1 && (l.zero < 3 || sym_dp_);
  param_bytes_ = w.dp_param_bytes;
  z3_bytes_ = param_bytes_ / layers_here;
  comms_.trace = &trace_;
  trace_.enabled = opt.trace;
  // TP groups whose NVSwitch/NVLink ports carry no other traffic (no other group has two members
  // on a node, no NIC traffic through the GPU's link): their collectives cannot contend, so
  // they run in closed form (exclusive_time), and - when every GPU has its own NIC - the TP
  // ranks of a group are identical and only TP rank 0 is simulated.
  const Cluster& c = plan.cluster;
  const cost::Placement pl = cost::place(l, c);
  const int64_t dom = c.domain_gpus();  // NVLink domain (platform.cpp's node zone)
  const int64_t nodes = (l.gpus() + dom - 1) / dom;
  const bool nvlink = c.intra.kind == IntraKind::NvSwitch || c.intra.kind == IntraKind::NvLink;
  tp_exclusive_ = opt.aggregate_replicas && l.tp > 1 && l.tp <= dom &&
                  (nvlink || nodes == 1) && (l.cp == 1 || pl.cp.per_node == 1) &&
                  (l.dp == 1 || pl.dp.per_node == 1) && (l.pp == 1 || pl.pp.per_node == 1);
  lanes_ = tp_exclusive_ && (nodes == 1 || c.inter.nics_per_node >= c.gpus_per_node);
  ep_init();
  cp_init();
  // TP-lane representative (docs/simulation.md "Symmetric collectives"): with CP or DP groups on
  // the NVLink ports (tp_exclusive_ off), the TP lanes are still congruent: lane i holds TP rank
  // i of every group, its CP, DP and PP groups (Megatron order: tp fastest) hold lane-i GPUs
  // only, and every GPU's flows leave through its own NVLink port and its own NIC (open fabric).
  // Each TP group lies in one zone; its ring / NVLS collectives then run from member 0, whose
  // port up carries exactly what it carries with every lane running (the receivers' ports down
  // carry a part of theirs). Not with EP (its groups fold over the lanes) or NCCL's tree.
  const bool own_nics = nodes == 1 || (c.inter.nics_per_node >= c.gpus_per_node &&
                                       comms_.open_fabric());
  if (opt.aggregate_replicas && !lanes_ && !ep_on_ && l.tp > 1 && nvlink && dom % l.tp == 0 &&
      own_nics) {
    std::vector<int64_t> g;
    for (int i = 0; i < l.tp; ++i) g.push_back(i);
    const auto probe = comms_.make_group(g);
    auto ring_or_nvls = [&](Collective op) {
      const Algorithm a = detail::resolve(Algorithm::Auto, op, w.tp_bytes, *probe, c).algo;
      return a == Algorithm::Ring || a == Algorithm::Nvls;
    };
    lane_rep_ = comms_.in_one_zone(g) &&
                (w.tp_op == Collective::AllReduce
                     ? ring_or_nvls(Collective::AllReduce)
                     : ring_or_nvls(Collective::AllGather) &&
                           ring_or_nvls(Collective::ReduceScatter));
  }
}

void StepSim::setup() {
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
    rk->full = (!aggregate_ || rk->dp == 0) && (!(lanes_ || lane_rep_) || rk->tp == 0);
    rk->host = p_.hosts[static_cast<size_t>(r)];
    rk->res.rank = r;
    for (int k = 0; k < v_; ++k) {
      const size_t c = static_cast<size_t>(k * P_ + rk->pp);
      rk->res.layers += chunk_layers_[c];
      for (int64_t i = chunk_first_[c]; i < chunk_first_[c] + chunk_layers_[c]; ++i)
        rk->res.moe_layers += plan_.model.is_moe_layer(i);
    }
    ranks_[static_cast<size_t>(r)] = std::move(rk);
  }
  // Groups, Megatron rank order: tp fastest, then cp, dp, pp.
  for (auto& rk : ranks_) {
    Rank& r = *rk;
    if (r.tp == 0 && r.full && l.tp > 1) {
      std::vector<int64_t> g;
      for (int i = 0; i < l.tp; ++i) g.push_back(r.rank + i);
      auto grp = comms_.make_group(g);
      if (lane_rep_) comms_.lane_symmetric(*grp);
      for (int i = 0; i < l.tp; ++i)
        ranks_[static_cast<size_t>(r.rank + i)]->tpg = grp,
                                            ranks_[static_cast<size_t>(r.rank + i)]->tp_me = i;
    }
    if (r.cp == 0 && r.full && l.cp > 1) cp_groups(r);
    if (r.dp == 0 && (!dp_over_cp_ || r.cp == 0) && dp_members_ > 1 &&
        (!(lanes_ || lane_rep_) || r.tp == 0)) {
      std::vector<int64_t> g;
      for (int64_t i = 0; i < dp_members_; ++i) g.push_back(r.rank + i * dp_stride_);
      auto grp = comms_.make_group(g, sym_dp_);
      for (int64_t i = 0; i < dp_members_; ++i) {
        Rank& m = *ranks_[static_cast<size_t>(g[static_cast<size_t>(i)])];
        m.dpg = grp;
        m.dp_me = static_cast<int>(i);
        // A replica's member mirrors its replica-0 twin (same tp, cp and pp), which is simulated.
        if (aggregate_ && m.dp > 0 && (grp->reps == 0 || i < grp->reps)) {
          ranks_[static_cast<size_t>(m.rank - int64_t(m.dp) * l.tp * l.cp)]->ghosts.push_back(&m);
          m.ghost = true;
        }
      }
    }
  }
  ep_groups();
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
  int64_t full = 0;
  for (auto& rk : ranks_) full += rk->full;
  barrier_ = sg4::Barrier::create(static_cast<unsigned>(full));
  for (auto& rk : ranks_) {
    Rank* r = rk.get();
    const std::string id = std::to_string(r->rank);
    if (r->full) sg4::Actor::create("rank" + id, r->host, [this, r] { run_rank(*r); });
    if (r->dpg && (r->full || r->ghost))
      sg4::Actor::create("dp" + id, r->host, [this, r] { serve(*r, r->dp_stream); });
    if (r->full && r->cpg)
      sg4::Actor::create("cp" + id, r->host, [this, r] { serve(*r, r->cp_stream); });
    if ((r->full || r->ghost) && r->dpg && plan_.layout.zero >= 3)
      sg4::Actor::create("z3" + id, r->host, [this, r] { serve(*r, r->z3_stream); });
    if (r->full && r->epg && ep_overlap_)
      sg4::Actor::create("ep" + id, r->host, [this, r] { serve(*r, r->ep_stream); });
  }
}

SimResult StepSim::results() {
  SimResult out;
  double step = 0, pipe_end = 0;
  for (auto& rk : ranks_)
    if (rk->full)
      step = std::max(step, rk->res.end_s), pipe_end = std::max(pipe_end, rk->pipe_end);
  out.step_time_s = step;
  for (auto& rk : ranks_) {
    if (!rk->full) continue;
    RankResult r = rk->res;
    r.exposed_comm_s = r.tp_s + r.cp_s + r.ep_s + r.pp_s + r.dp_s;
    r.bubble_s = std::max(0.0, pipe_end - rk->pipe_busy);
    r.idle_s = std::max(0.0, step - r.compute_s - r.exposed_comm_s - r.bubble_s);
    out.ranks.push_back(r);
    ++out.simulated_gpus;
  }
  out.events = comms_.messages + execs_;
  cp_bytes(out);
  if (opt_.trace) out.trace = trace_.to_json();
  return out;
}

void StepSim::run_op(Rank& r, const detail::PipeOp& op, bool last_backward_of_chunk) {
  const bool embed = r.pp == 0 && op.chunk == 0;
  const bool head = r.pp == P_ - 1 && op.chunk == v_ - 1;
  const std::string name =
      trace_.enabled ? detail::cat({op.forward ? "F" : "B", std::to_string(op.microbatch),
                                    v_ > 1 ? "c" : "", v_ > 1 ? std::to_string(op.chunk) : ""})
                     : std::string();
  const double share = op.forward ? 1.0 / 3 : 2.0 / 3;  // fwd : bwd = 1 : 2
  const int L = layers(r, op.chunk);  // this stage's share of the layers (uneven stages)
  // A chunk of dense and MoE layers runs per layer: each MoE layer's all-to-alls overlap its own
  // compute only, as cost::ep_comm prices them (a dense layer has none to hide).
  const int moe_in_chunk = ep_layers(r, op.chunk, 0, L);
  const bool coarse = gran_ == Granularity::Chunk && (moe_in_chunk == 0 || moe_in_chunk == L);
  // Zero-bubble: the weight-gradient GEMMs (the forward linear GEMMs' FLOPs, as cost/step.cpp
  // pass_shares) run as their own W op, after the B that sends the input gradient.
  const double w_s = std::min(w_.layer.fwd_linear_s, w_.layer.bwd_s);
  if (op.weight) {
    exec(r, L * w_s, name + " W");
    return;
  }
  if (op.forward) {
    if (embed) exec(r, w_.embedding_s * share, name + " embedding");
    if (coarse) {
      const int ne = moe_in_chunk;
      ep_start(r, true, ne);
      exec(r, L * (w_.layer.fwd_s + hx_.fwd_s), name);
      tp_block(r, r.tpg ? L * w_.tp_fwd_collectives : 0);
      ep_finish(r, true, ne, L * w_.layer.fwd_s);
    } else {
      for (int i = 0; i < L; ++i) {
        const int ne = ep_layers(r, op.chunk, i, 1);
        ep_start(r, true, ne);
        layer_forward(r, name, i == 0, i == L - 1);
        ep_finish(r, true, ne, w_.layer.fwd_s);
      }
    }
    if (head) exec(r, w_.logits_s * share, name + " logits");
    return;
  }
  if (head) exec(r, w_.logits_s * share, name + " logits");
  // ZeRO-2/3 keep a gradient shard only: reduce-scatter after every micro-batch; otherwise the
  // buckets are reduced during the last micro-batch's backward.
  // Without overlap_grad_reduce (ZeRO 0-2) the buckets wait for the backward to end: after the
  // pipeline (ZeRO 0/1, run_rank), or after each micro-batch's backward (ZeRO-2, below).
  const bool produce = r.dpg && (plan_.layout.zero >= 2 || last_backward_of_chunk);
  const bool reduce = produce && reduce_overlap_;
  const double bwd_s = w_.layer.recompute_s + w_.layer.bwd_s - (op.split ? w_s : 0.0);
  if (coarse && !reduce) {
    const int ne = moe_in_chunk;
    ep_start(r, false, ne);
    exec(r, L * (bwd_s + hx_.bwd_s), name);
    tp_block(r, r.tpg ? L * w_.tp_bwd_collectives : 0);
    ep_finish(r, false, ne, L * bwd_s);
  } else {
    for (int i = 0; i < L; ++i) {
      // Backward runs the chunk's layers last to first.
      const int ne = ep_layers(r, op.chunk, L - 1 - i, 1);
      ep_start(r, false, ne);
      layer_backward(r, name, i == 0, i == L - 1);
      ep_finish(r, false, ne, bwd_s);
      // Buckets overlap the rest of the backward pass.
      if (reduce) grads_ready(r, layer_grad_bytes_, i == L - 1 && op.chunk == 0);
    }
  }
  if (embed) exec(r, w_.embedding_s * share, name + " embedding");
  if (produce && !reduce) {
    r.pending_grad += L * layer_grad_bytes_;
    if (plan_.layout.zero == 2) {
      push_buckets(r);
      wait_buckets(r, "dp grad reduce-scatter (not overlapped)");
    }
  }
}

void StepSim::run_rank(Rank& r) {
  const auto ops = detail::stage_schedule(plan_.layout.schedule, P_, r.pp, v_, m_);
  std::vector<size_t> last_bwd(static_cast<size_t>(v_), ops.size());
  for (size_t i = 0; i < ops.size(); ++i)
    if (!ops[i].forward && !ops[i].weight) last_bwd[static_cast<size_t>(ops[i].chunk)] = i;
  // ZeRO-1/2: the all-gather of the parameters updated by the previous step overlaps this
  // step's first micro-batch of forward work (steady state of consecutive steps).
  const bool gather =
      r.dpg && (plan_.layout.zero == 1 || plan_.layout.zero == 2) && param_bytes_ > 0;
  if (gather) push_dp(r, Collective::AllGather, param_bytes_, ag_algo_);
  if (gather && !gather_overlap_) {  // overlap_param_gather off: before the first forward
    flush(r);
    const double t0 = now();
    r.dp_stream.done->acquire();
    r.res.dp_s += now() - t0;
    record(r, "dp", "zero param all-gather", t0);
  }
  int forwards = 0;
  for (size_t i = 0; i < ops.size(); ++i) {
    recv_input(r, ops[i]);
    run_op(r, ops[i], i == last_bwd[static_cast<size_t>(ops[i].chunk)]);
    send_output(r, ops[i]);
    if (gather && gather_overlap_ && ops[i].forward && ++forwards == v_) {
      flush(r);
      const double t0 = now();
      r.dp_stream.done->acquire();
      r.res.dp_s += now() - t0;
      record(r, "dp", "zero param all-gather", t0);
    }
  }
  flush(r);
  r.pipe_end = now();
  r.pipe_busy = r.res.compute_s + r.res.tp_s + r.res.cp_s + r.res.ep_s + r.res.pp_s + r.res.dp_s;
  if (r.dpg) {
    if (reduce_overlap_) grads_ready(r, 0, true);
    else push_buckets(r);
    wait_buckets(r, "dp grad reduce (exposed)");
    // What the DP and ZeRO-3 streams ran behind compute slows it by efficiency.overlap_slowdown,
    // as the cost model charges it (cost/overlap.cpp dp_exposure).
    const double hidden = r.dp_stream.busy_s + r.z3_stream.busy_s - r.res.dp_s;
    const double slow = plan_.cluster.efficiency.overlap_slowdown * std::max(0.0, hidden);
    if (slow > 0) {
      flush(r);
      const double t0 = now();
      sg4::this_actor::sleep_for(slow);
      r.res.dp_s += slow;
      record(r, "dp", "dp overlap slowdown", t0);
    }
  }
  exec(r, w_.optimizer_s + w_.offload_s, "optimizer");
  Job stop;
  stop.stop = true;
  if (r.dpg) {
    r.dp_stream.push(stop);
    for (Rank* g : r.ghosts) g->dp_stream.push(stop);
  }
  if (r.cpg) r.cp_stream.push(stop);
  if (r.epg && ep_overlap_) r.ep_stream.push(stop);
  if (r.dpg && plan_.layout.zero >= 3) {
    r.z3_stream.push(stop);
    for (Rank* g : r.ghosts) g->z3_stream.push(stop);
  }
  // Gradient-norm all-reduce of the optimizer step synchronises every rank.
  flush(r);
  const double t0 = now();
  barrier_->wait();
  record(r, "idle", "step end sync", t0);
  r.res.end_s = now();
}

std::vector<StepPart> largest_differences(const SimResult& r, const cost::TimeBreakdown& a) {
  const RankResult* crit = nullptr;
  for (const auto& k : r.ranks)
    if (!crit || k.compute_s + k.exposed_comm_s > crit->compute_s + crit->exposed_comm_s) crit = &k;
  if (!crit) return {};
  // The simulated compute stream carries the kernels' floors and the host's excess
  // (cost::layer_host_excess), which the analytical breakdown shows as "launch and latency".
  std::vector<StepPart> parts = {
      {"compute", crit->compute_s, a.compute + a.optimizer + a.launch_latency},
      {"tp", crit->tp_s, a.tp_comm},
      {"cp", crit->cp_s, a.cp_comm},
      {"ep", crit->ep_s, a.ep_comm},
      {"pp", crit->pp_s, a.pp_comm},
      {"dp", crit->dp_s, a.dp_comm_exposed},
      {"bubble", crit->bubble_s + crit->idle_s, a.pp_bubble}};
  std::stable_sort(parts.begin(), parts.end(), [](const StepPart& x, const StepPart& y) {
    return std::abs(x.simulated_s - x.analytical_s) > std::abs(y.simulated_s - y.analytical_s);
  });
  parts.resize(3);
  return parts;
}

}  // namespace parplan::sim::detail

namespace parplan::sim {

namespace sg4 = simgrid::s4u;
using detail::StepSim;

SimResult simulate_step(const Plan& plan, const cost::StepWork& work, const SimOptions& opt) {
  Diagnostics d;
  validate(plan.layout, plan.model, plan.cluster, plan.training, d);
  d.throw_if_errors("plan: layout " + describe(plan.layout) + " for " + plan.model.name + " on " +
                    plan.cluster.name);
  check_cluster(plan.cluster, plan.layout.gpus());
  // A schedule without a timeline here: refused before any actor runs (schedule.hpp).
  (void)detail::stage_schedule(plan.layout.schedule, plan.layout.pp, 0,
                               std::max(1, plan.layout.virtual_stages),
                               static_cast<int>(std::max<int64_t>(1, work.micro_batches)));
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
  if (opt.network == NetworkModel::Cm02) detail::install_protocol_latencies();
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
    const cost::StepCost a = cost::predict(plan.model, plan.cluster, plan.training, plan.layout);
    r.analytical_step_time_s = a.step_time_s;
    r.differences = detail::largest_differences(r, a.time);
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
