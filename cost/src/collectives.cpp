#include "parplan/cost/collectives.hpp"

#include "parplan/cost/host_overhead.hpp"

#include <algorithm>
#include <cmath>
#include <limits>

#include "parplan/cost/nccl_protocols.hpp"

namespace parplan::cost {

const char* to_string(Collective op) {
  switch (op) {
    case Collective::AllReduce: return "all-reduce";
    case Collective::AllGather: return "all-gather";
    case Collective::ReduceScatter: return "reduce-scatter";
    case Collective::Broadcast: return "broadcast";
    case Collective::AllToAll: return "all-to-all";
    case Collective::SendRecv: return "send-recv";
  }
  return "?";
}
const char* to_string(Algorithm a) {
  switch (a) {
    case Algorithm::Auto: return "auto";
    case Algorithm::Ring: return "ring";
    case Algorithm::Tree: return "tree";
    case Algorithm::Hierarchical: return "hierarchical";
    case Algorithm::Nvls: return "nvls";
  }
  return "?";
}
const char* to_string(Protocol p) {
  switch (p) {
    case Protocol::LL: return "LL";
    case Protocol::LL128: return "LL128";
    case Protocol::Simple: return "Simple";
  }
  return "?";
}

namespace {
int64_t clamp_per_node(int64_t gpn, int64_t stride, int64_t size) {
  if (stride >= gpn) return 1;
  return std::clamp<int64_t>(gpn / stride, 1, size);
}
}  // namespace

Placement place(const Layout& l, const Cluster& c) {
  // Megatron-LM rank order: tp varies fastest, then cp, dp, pp (consecutive ranks share a node).
  // A group's fast links end at the NVLink domain (the node on HGX, 72 GPUs on NVL72); the job
  // is assumed placed domain-aligned (Slurm block topology: NVIDIA recommends 16-tray segments,
  // 64 of a rack's 72 GPUs, for large jobs on GB200 NVL72), so a group within a domain's GPUs
  // stays on NVLink. The third field (groups sharing NICs) is capped at the node's GPUs in
  // link_rates: each tray's GPUs share only that tray's NICs.
  const int64_t gpn = c.domain_gpus();
  Placement p;
  p.tp = {l.tp, std::min<int64_t>(l.tp, gpn), gpn};
  p.cp = {l.cp, clamp_per_node(gpn, l.tp, l.cp), gpn};
  p.dp = {l.dp, clamp_per_node(gpn, int64_t(l.tp) * l.cp, l.dp), gpn};
  p.pp = {l.pp, clamp_per_node(gpn, int64_t(l.tp) * l.cp * l.dp, l.pp), gpn};
  return p;
}

LinkRates link_rates(const Cluster& c, const Group& g) {
  LinkRates r;
  r.intra_bytes_per_s = c.intra.bandwidth_bytes_per_s * c.efficiency.intra_node_link;
  r.intra_latency_s = c.intra.latency_s;
  // Every GPU of a node runs the same collective at once (SPMD), so each gets its share of the
  // node's NICs.
  const double senders = double(std::max<int64_t>(1, std::min(g.groups_sharing_nic, c.gpus_per_node)));
  r.inter_bytes_per_s = c.inter.nic_bytes_per_s * double(c.inter.nics_per_node) / senders *
                        c.efficiency.inter_node_link;
  // A message also crosses the sender's and receiver's node-local fabric.
  r.inter_latency_s = c.inter.latency_s + c.intra.latency_s;
  return r;
}

namespace {
// NCCL's per-protocol latencies and bandwidth shares: nccl_protocols.cpp (shared with sim/).
struct Link {
  double bw, step_lat;  // per GPU, after efficiency; Simple per-step latency
  bool nvlink;
};

// Ring over n ranks, `inter` of its steps between nodes (NCCL nInterSteps).
CollectiveEstimate ring(Collective op, double bytes, double n, double nodes, const Link& intra,
                        const Link& inter, bool multi_node) {
  CollectiveEstimate best;
  best.time_s = std::numeric_limits<double>::infinity();
  if (n <= 1) return best.time_s = 0, best;
  double steps = n - 1, inter_steps = nodes - 1, volume = (n - 1) / n * bytes;
  if (op == Collective::AllReduce) steps *= 2, inter_steps *= 2, volume *= 2;
  if (op == Collective::Broadcast) volume = bytes;
  const double bw = multi_node ? std::min(intra.bw, inter.bw) : intra.bw;
  for (Protocol p : {Protocol::LL, Protocol::LL128, Protocol::Simple}) {
    if (!protocol_enabled(p, intra.nvlink, multi_node)) continue;
    const ProtocolParams pp = protocol_params(Algorithm::Ring, p, op, multi_node);
    const double lat = pp.base_latency_s + (steps - inter_steps) * intra.step_lat * pp.intra_step +
                       inter_steps * inter.step_lat * pp.inter_step;
    const double t = lat + volume / (bw * pp.bandwidth_share);
    if (t < best.time_s) best = {Algorithm::Ring, p, t, lat};
  }
  return best;
}

// NCCL's tree all-reduce: a chain inside each node, a double binary tree between nodes,
// reduce then broadcast, pipelined: 2 x (chain + log2(nodes)) steps and 2 M / B.
CollectiveEstimate tree(double bytes, double n, double nodes, const Link& intra, const Link& inter,
                        bool multi_node) {
  CollectiveEstimate best;
  best.time_s = std::numeric_limits<double>::infinity();
  const double per_node = n / nodes;
  const double bw = multi_node ? std::min(intra.bw, inter.bw) : intra.bw;
  for (Protocol p : {Protocol::LL, Protocol::LL128, Protocol::Simple}) {
    if (!protocol_enabled(p, intra.nvlink, multi_node)) continue;
    const ProtocolParams pp = protocol_params(Algorithm::Tree, p, Collective::AllReduce, multi_node);
    const double lat =
        pp.base_latency_s + 2 * ((per_node - 1) * intra.step_lat * pp.intra_step +
                                 std::ceil(std::log2(std::max(1.0, nodes))) * inter.step_lat *
                                     pp.inter_step);
    const double t = lat + 2 * bytes / (bw * pp.bandwidth_share);
    if (t < best.time_s) best = {Algorithm::Tree, p, t, lat};
  }
  return best;
}

CollectiveEstimate nvls(Collective op, double bytes, double n, const Cluster& c, const Link& intra) {
  // Reduce-scatter and all-gather through the switch move (n-1)/n of the buffer per GPU; the
  // all-reduce moves the whole buffer once each way (multimem ld_reduce + st).
  const double volume = op == Collective::AllReduce ? bytes : (n - 1) / n * bytes;
  const double bw = nvls_bytes_per_s(c);
  const double lat =
      protocol_params(Algorithm::Nvls, Protocol::Simple, op, false).base_latency_s + intra.step_lat;
  return {Algorithm::Nvls, Protocol::Simple, lat + volume / bw, lat};
}
}  // namespace

double bus_bandwidth_factor(Collective op, int64_t n) {
  const double N = double(std::max<int64_t>(1, n));
  switch (op) {
    case Collective::AllReduce: return 2 * (N - 1) / N;
    case Collective::AllGather:
    case Collective::ReduceScatter:
    case Collective::AllToAll: return (N - 1) / N;
    default: return 1.0;
  }
}

CollectiveEstimate collective_estimate(Collective op, double bytes, const Group& g,
                                       const Cluster& c, Algorithm algo) {
  CollectiveEstimate none;
  if (g.size <= 1 || bytes <= 0) return none;
  const LinkRates r = link_rates(c, g);
  const bool nvlink = c.intra.kind == IntraKind::NvSwitch || c.intra.kind == IntraKind::NvLink;
  const Link intra{r.intra_bytes_per_s, r.intra_latency_s, nvlink};
  const Link inter{r.inter_bytes_per_s, r.inter_latency_s, false};
  const double n = double(g.size);
  const bool multi = g.spans_nodes();
  const double nodes = multi ? std::ceil(n / double(std::max<int64_t>(1, g.per_node))) : 1.0;
  if (op == Collective::SendRecv) {
    const Link& l = multi ? inter : intra;
    return {Algorithm::Ring, Protocol::Simple, l.step_lat + bytes / l.bw, l.step_lat};
  }
  if (op == Collective::AllToAll) {
    // Every rank sends 1/n of its buffer to each peer (NCCL grouped send/recv): one step latency
    // per peer, of the peer's link class; the bytes to the node's own peers go over NVLink while
    // the others cross the NICs at the same time.
    const double p = multi ? double(std::max<int64_t>(1, g.per_node)) : n;
    const double lat = (p - 1) * intra.step_lat + (n - p) * inter.step_lat;
    const double t = std::max((p - 1) / n * bytes / intra.bw, (n - p) / n * bytes / inter.bw);
    return {Algorithm::Ring, Protocol::Simple, lat + t, lat};
  }
  const bool nvls_ok = c.intra.nvls && !multi && g.size > 2 &&
                       (op == Collective::AllReduce || op == Collective::AllGather ||
                        op == Collective::ReduceScatter);
  const bool tree_ok = op == Collective::AllReduce || op == Collective::Broadcast;
  const bool hier_ok = multi && g.per_node > 1 &&
                       (op == Collective::AllReduce || op == Collective::AllGather ||
                        op == Collective::ReduceScatter);
  if (algo == Algorithm::Nvls && !nvls_ok) algo = Algorithm::Ring;
  if (algo == Algorithm::Tree && !tree_ok) algo = Algorithm::Ring;
  if (algo == Algorithm::Hierarchical && !hier_ok) algo = Algorithm::Ring;
  auto hierarchical = [&] {
    // Two levels, as NCCL's multi-NIC rings reach: intra-node reduce-scatter, the inter-node
    // collective on 1/k of the data (each of the k GPUs on its own NIC share), intra all-gather.
    const double k = double(g.per_node);
    CollectiveEstimate e{Algorithm::Hierarchical, Protocol::Simple, 0, 0};
    auto add = [&](const CollectiveEstimate& x) { e.time_s += x.time_s, e.latency_s += x.latency_s; };
    if (op == Collective::AllReduce) {
      add(ring(Collective::ReduceScatter, bytes, k, 1, intra, inter, false));
      add(ring(Collective::AllReduce, bytes / k, nodes, nodes, inter, inter, true));
      add(ring(Collective::AllGather, bytes, k, 1, intra, inter, false));
    } else {
      add(ring(op, bytes / k, nodes, nodes, inter, inter, true));
      add(ring(op, bytes, k, 1, intra, inter, false));
    }
    return e;
  };
  switch (algo) {
    case Algorithm::Ring: return ring(op, bytes, n, nodes, intra, inter, multi);
    case Algorithm::Tree: return tree(bytes, n, nodes, intra, inter, multi);
    case Algorithm::Hierarchical: return hierarchical();
    case Algorithm::Nvls: return nvls(op, bytes, n, c, intra);
    case Algorithm::Auto: break;
  }
  CollectiveEstimate best = ring(op, bytes, n, nodes, intra, inter, multi);
  auto consider = [&](const CollectiveEstimate& e) {
    if (e.time_s < best.time_s) best = e;
  };
  if (tree_ok && op == Collective::AllReduce) consider(tree(bytes, n, nodes, intra, inter, multi));
  if (hier_ok) consider(hierarchical());
  if (nvls_ok) consider(nvls(op, bytes, n, c, intra));
  return best;
}

double collective_time(Collective op, double bytes, const Group& g, const Cluster& c,
                       Algorithm algo) {
  const double fixed = bytes > 0 ? call_overhead_s(op, g.size, c) : 0.0;  // host_overhead.cpp
  return collective_estimate(op, bytes, g, c, algo).time_s + fixed;
}

Algorithm choose_algorithm(Collective op, double bytes, const Group& g, const Cluster& c) {
  if (op == Collective::SendRecv || g.size <= 1) return Algorithm::Ring;
  return collective_estimate(op, bytes, g, c, Algorithm::Auto).algo;
}

}  // namespace parplan::cost
