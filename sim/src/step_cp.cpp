// Context parallelism in the step simulation, the three kinds of cost/context_parallel.cpp:
// ring attention (K/V blocks passed around the CP ring on a CP stream while the attention core
// computes), DeepSpeed Ulysses (all-to-alls over the CP group from sequence- to head-sharded
// before attention - Q, K, V - and back after it - O -, backward mirrored; nothing overlaps) and
// USP (Ulysses over u consecutive CP ranks, ring over the cp / u groups of them). Degrees and
// bytes come from cost::context_parallel_work, the groups follow Megatron's rank order.
#include <algorithm>
#include <string>

#include "names.hpp"
#include "parplan/cost/context_parallel.hpp"
#include "step_state.hpp"

namespace parplan::sim::detail {

void StepSim::cp_init() {
  const Layout& l = plan_.layout;
  if (l.cp <= 1) return;
  cp_ = cost::context_parallel_work(plan_.model, plan_.cluster, plan_.training, l, w_.layer);
}

// CP ranks of one group: members[i] = first + i * tp. Ulysses groups: u consecutive ones; ring
// groups: one per position inside them, stride u.
void StepSim::cp_groups(Rank& first) {
  const Layout& l = plan_.layout;
  std::vector<int64_t> members;
  for (int i = 0; i < l.cp; ++i) members.push_back(first.rank + int64_t(i) * l.tp);
  const int u = std::max(1, cp_.ulysses), nr = std::max(1, cp_.ring);
  auto rank_at = [&](int i) -> Rank& { return *ranks_[static_cast<size_t>(members[size_t(i)])]; };
  if (u > 1)
    for (int j = 0; j < nr; ++j) {
      std::vector<int64_t> g(members.begin() + j * u, members.begin() + (j + 1) * u);
      auto grp = comms_.make_group(g);
      cp_all_.push_back(grp);
      for (int k = 0; k < u; ++k) rank_at(j * u + k).ulg = grp, rank_at(j * u + k).ul_me = k;
    }
  if (nr > 1)
    for (int k = 0; k < u; ++k) {
      std::vector<int64_t> g;
      for (int j = 0; j < nr; ++j) g.push_back(members[size_t(j * u + k)]);
      auto grp = comms_.make_group(g);
      cp_all_.push_back(grp);
      for (int j = 0; j < nr; ++j) rank_at(j * u + k).cpg = grp, rank_at(j * u + k).cp_me = j;
    }
}

// Blocking Ulysses all-to-alls of these buffers (bytes each rank holds before the exchange).
void StepSim::ulysses(Rank& r, std::initializer_list<double> buffers) {
  if (!r.ulg) return;
  flush(r);
  const double t0 = now();
  for (double b : buffers) {
    if (!(b > 0)) continue;
    const Choice ch = resolve(Algorithm::Auto, Collective::AllToAll, b, *r.ulg, plan_.cluster);
    run_collective(comms_, *r.ulg, r.ul_me, Collective::AllToAll, b, ch);
  }
  r.res.cp_s += now() - t0;
  record(r, "cp", "ulysses all-to-all", t0);
}

// Ring attention: steps - 1 = ring - 1 passes of this rank's block (K, V forward; K, V and
// dK, dV backward) on the CP stream, overlapped with the attention core they feed; the rank
// pays the overlap slowdown on the overlapped part as the cost model does.
double StepSim::cp_overlap(Rank& r, double block, double attention_s, const std::string& name) {
  if (!r.cpg || !(block > 0)) return 0;
  flush(r);
  const double busy0 = r.cp_stream.busy_s;
  Choice ch{Algorithm::Ring, cost::Protocol::Simple};
  ch.p2p = true;
  r.cp_stream.push({Collective::AllGather, block * r.cpg->size(), r.cpg.get(), r.cp_me, ch, false});
  exec(r, attention_s, name + " attn");
  flush(r);
  const double t0 = now();
  r.cp_stream.done->acquire();
  const double comm = r.cp_stream.busy_s - busy0;
  const double extra = plan_.cluster.efficiency.overlap_slowdown * std::min(comm, attention_s);
  if (extra > 0) sg4::this_actor::sleep_for(extra);
  r.res.cp_s += now() - t0;
  record(r, "cp", "cp exchange", t0);
  return attention_s;
}

// The forward's K, V exchange: under the whole attention core (a P2P ring), or, for a framework
// that all-gathers K, V once (PyTorch CP), under the local block alone.
double StepSim::cp_forward_exchange(Rank& r, const std::string& name) {
  const double attn = w_.layer.fwd_attention_core_s;
  const double window = cp_.ring_all_gather && cp_.ring > 1 ? attn / cp_.ring : attn;
  return cp_overlap(r, cp_.ring_kv_block_bytes, window, name);
}

void StepSim::cp_bytes(SimResult& out) const {
  // Under either TP-lane shortcut (lanes_: lanes on their own links; lane_rep_: the TP-lane
  // representative) only lane 0 runs, and its CP groups stand for the tp lanes' alike ones.
  const double lanes = (lanes_ || lane_rep_) ? plan_.layout.tp : 1;
  for (const auto& g : cp_all_) {
    out.cp_intra_node_bytes += lanes * g->intra_node_bytes;
    out.cp_inter_node_bytes += lanes * g->inter_node_bytes;
  }
}

}  // namespace parplan::sim::detail
