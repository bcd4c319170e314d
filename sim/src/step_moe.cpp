// MoE expert parallelism in the step simulation: the token dispatch and combine all-to-alls of
// every MoE layer run as pairwise flows over the layout's EP group (each rank sends 1/ep of its
// bytes to every other EP rank), placed as cost::ep_group places it (Megatron-Core order: etp
// fastest, then ep, inside each pipeline stage), so an EP group that spans nodes shares the NICs
// with the DP and PP traffic. Bytes come from cost::moe_layer_work; forward: dispatch + combine;
// backward: their gradients (16-bit, the combine's size each), plus the forward pair again under
// full recomputation (as cost::ep_comm). With Training.moe_a2a_overlap the flows run on their own
// stream while the layer computes (cost::moe_a2a_overlapped); otherwise the rank waits for them.
#include <algorithm>
#include <string>
#include <vector>

#include "names.hpp"
#include "parplan/cost/moe.hpp"
#include "parplan/cost/pipeline.hpp"
#include "parplan/model/error.hpp"
#include "step_state.hpp"

namespace parplan::sim::detail {

namespace {
// The MoE all-to-alls: every flow at once with one latency, as cost/moe.cpp prices them.
const Choice kEpChoice{Algorithm::Ring, cost::Protocol::Simple, true};
}  // namespace

// Called at the end of the constructor: EP flows touch every replica and every TP rank (an EP
// group folds over DP x CP, Megatron-Core "parallel folding"), so no replica or TP lane is
// aggregated, and TP links are no longer exclusive (EP shares the NVLink ports).
void StepSim::ep_init() {
  const Model& m = plan_.model;
  const Layout& l = plan_.layout;
  ep_on_ = m.is_moe() && l.ep > 1 && w_.ep_fwd_s + w_.ep_bwd_s > 0;
  if (!ep_on_) return;
  const cost::MoeLayerWork mw = cost::moe_layer_work(m, plan_.cluster, plan_.training, l);
  ep_dispatch_bytes_ = mw.dispatch_bytes;
  ep_combine_bytes_ = mw.combine_bytes;
  ep_overlap_ = cost::moe_a2a_overlapped(plan_.training) || cost::overlaps_ep_comm(l.schedule);
  // With symmetric DP and EP groups (comm.hpp) replica 0 still stands for the others: its EP
  // group's all-to-alls run from its first node's members, whose flows load every NIC and
  // NVLink port as the full collective does.
  const int64_t S = int64_t(l.tp) * l.cp * l.dp;
  std::vector<int64_t> g;
  for (int64_t k = 0; k < l.ep && k * l.etp < S; ++k) g.push_back(k * l.etp);
  sym_ep_ = sym_dp_ && aggregate_ && comms_.symmetric_reps(g) > 0;
  // Every EP group inside one NVLink zone (NVL72: EP 64 in a rack's 64-GPU segment): replica
  // 0's members stand for the others (Comms::zone_symmetric), exact while no DP stream runs
  // during the pipeline - the
  // replicas' DP flows would share the receivers' ports with the representatives' flows:
  // gradients reduced after the pipeline (ZeRO 0/1, overlap_grad_reduce off) or after each
  // micro-batch's backward, waited for (ZeRO-2), and the parameter gather waited for before the
  // first forward (overlap_param_gather off).
  const bool dp_quiet = !reduce_overlap_ && (l.zero == 0 || !gather_overlap_) && l.zero < 3;
  zone_ep_ = !sym_ep_ && aggregate_ && dp_quiet;
  for (int64_t j = 0; zone_ep_ && j < l.gpus(); ++j) {
    if (((j % S) / l.etp) % l.ep != 0) continue;  // not the first member of its EP group
    std::vector<int64_t> m;
    for (int64_t k = 0; k < l.ep; ++k) m.push_back(j + k * l.etp);
    zone_ep_ = comms_.in_one_zone(m);
  }
  aggregate_ = aggregate_ && (sym_ep_ || zone_ep_);
  lanes_ = tp_exclusive_ = false;
}

// EP groups: inside a stage of S = tp * cp * dp ranks, expert rank j has etp index j % etp and
// ep index (j / etp) % ep; its group: the ep ranks that differ only in the ep index.
void StepSim::ep_groups() {
  if (!ep_on_) return;
  const Layout& l = plan_.layout;
  const int64_t S = int64_t(l.tp) * l.cp * l.dp, etp = l.etp, ep = l.ep;
  if (etp * ep > S || S % (etp * ep) != 0)
    throw Error("layout: ep * etp (" + std::to_string(ep * etp) + ") must divide tp * cp * dp (" +
                std::to_string(S) +
                ") to simulate expert parallelism; fix layout.ep or layout.etp");
  for (auto& rk : ranks_) {
    const int64_t j = rk->rank % S;
    if ((j / etp) % ep != 0) continue;
    std::vector<int64_t> g;
    for (int64_t k = 0; k < ep; ++k) g.push_back(rk->rank + k * etp);
    auto grp = comms_.make_group(g, sym_ep_);
    if (zone_ep_) {
      // Its members in replica 0 (the first ones: replica 0 holds a stage's lowest ranks).
      int reps = 0;
      while (reps < ep && (g[static_cast<size_t>(reps)] % S) < int64_t(l.tp) * l.cp) ++reps;
      comms_.zone_symmetric(*grp, reps);
    }
    for (int64_t k = 0; k < ep; ++k) {
      Rank& mbr = *ranks_[static_cast<size_t>(g[static_cast<size_t>(k)])];
      mbr.epg = grp;
      mbr.ep_me = static_cast<int>(k);
    }
  }
}

// MoE layers among layers [first, first + count) of model chunk `chunk` on r's stage (Megatron
// order: chunk c of stage p holds the layers after chunk c * pp + p - 1's, chunk_first_).
int StepSim::ep_layers(const Rank& r, int chunk, int first, int count) const {
  if (!ep_on_ || !r.epg) return 0;
  int n = 0;
  const int64_t base = chunk_first_[static_cast<size_t>(chunk * P_ + r.pp)] + first;
  for (int64_t i = base; i < base + count; ++i)
    if (i < plan_.model.layers && plan_.model.is_moe_layer(i)) ++n;
  return n;
}

// Bytes each rank sends in the all-to-alls of one MoE layer, in order.
std::vector<double> StepSim::ep_bytes(bool forward) const {
  if (forward) return {ep_dispatch_bytes_, ep_combine_bytes_};
  std::vector<double> b{ep_combine_bytes_, ep_combine_bytes_};
  // Full recomputation or Megatron-Core's "moe" module reruns the layer's dispatch and combine.
  if (plan_.layout.recompute == Recompute::Full || recomputes(plan_.layout, kRecomputeMoe)) {
    b.push_back(ep_dispatch_bytes_);
    b.push_back(ep_combine_bytes_);
  }
  return b;
}

// Overlapped: queue the all-to-alls of `layers` MoE layers before their compute.
void StepSim::ep_start(Rank& r, bool forward, int layers) {
  if (!ep_overlap_ || layers <= 0) return;
  flush(r);
  r.ep_busy0 = r.ep_stream.busy_s;
  for (double b : ep_bytes(forward)) {
    Job j{Collective::AllToAll, b, r.epg.get(), r.ep_me, kEpChoice, false, layers};
    r.ep_stream.push(j);
    ++r.ep_jobs;
  }
}

// After the compute of `layers` MoE layers (compute_s of it): overlapped, wait for the queued
// all-to-alls and pay the overlap slowdown the cost model charges on the overlapped part
// (efficiency.overlap_slowdown, as cost::ep_comm); otherwise run them now, blocking.
void StepSim::ep_finish(Rank& r, bool forward, int layers, double compute_s) {
  if (layers <= 0) return;
  flush(r);
  const double t0 = now();
  if (ep_overlap_) {
    for (; r.ep_jobs > 0; --r.ep_jobs) r.ep_stream.done->acquire();
    const double comm = r.ep_stream.busy_s - r.ep_busy0;
    const double slow = plan_.cluster.efficiency.overlap_slowdown;
    const double extra = slow * std::min(comm, compute_s);
    if (extra > 0) sg4::this_actor::sleep_for(extra);
  } else {
    for (double b : ep_bytes(forward)) {
      detail::run_collective(comms_, *r.epg, r.ep_me, Collective::AllToAll, b * layers, kEpChoice);
      if (layers > 1)
        sg4::this_actor::sleep_for(
            (layers - 1) * detail::latency_s(Collective::AllToAll, kEpChoice, *r.epg));
    }
  }
  r.res.ep_s += now() - t0;
  if (trace_.enabled)
    record(r, "ep", forward ? "ep dispatch+combine" : "ep combine+dispatch grad", t0);
}

}  // namespace parplan::sim::detail
