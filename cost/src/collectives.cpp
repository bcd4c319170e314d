#include "parplan/cost/collectives.hpp"

#include "parplan/cost/host_overhead.hpp"

#include <algorithm>
#include <cmath>
#include <limits>

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
  const int64_t gpn = c.gpus_per_node;
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
// NCCL's tuning model (NVIDIA/nccl src/graph/tuning.cc, 2.18: baseLat, hwLat; 2.8 for the
// network row): time = base latency + steps x per-step latency + bytes / bandwidth, for each
// algorithm and protocol, the fastest taken. The cluster's link latencies are the Simple
// protocol's per-step latencies; LL and LL128 scale them as NCCL's hwLat rows do.
constexpr double kBaseLat[2][3] = {{6.6e-6, 14.0e-6, 8.4e-6},   // ring: LL, LL128, Simple
                                   {6.8e-6, 14.0e-6, 0.0}};     // tree
constexpr double kNvlsBaseLat = 23e-6;                           // NVLS (Simple only)
constexpr double kNvlinkStep[2][3] = {{0.6 / 3.4, 1.9 / 3.4, 1.0},   // ring, per Simple step
                                      {0.6 / 3.4, 1.25 / 3.4, 28.0 / 3.4}};  // tree
constexpr double kNetStep[2][3] = {{2.7 / 9.6, 4.0 / 9.6, 1.0}, {5.0 / 9.6, 8.5 / 9.6, 50.0 / 9.6}};
// LL128 is enabled by default only inside NVLink nodes (tuning.cc: typeInter <= PATH_PXB).
// Bandwidth of each protocol as a share of the link's (tuning.cc "model refinements"): LL moves
// 8 bytes of data per 16-byte line and runs at 1/4 (1/3 for single-node gathers); LL128 carries
// 120 of 128 bytes (0.92); trees reach 0.9 of a ring's bus bandwidth, LL on a tree 1/3.8 of
// that, LL128 7/9 inside a node and 0.915 across.
double proto_share(int algo, Protocol p, Collective op, bool multi_node) {
  if (algo == 0) {
    if (p == Protocol::LL)
      return (multi_node || op == Collective::AllReduce) ? 1.0 / 4.0 : 1.0 / 3.0;
    if (p == Protocol::LL128) return 0.92;
    return 1.0;
  }
  const double tree = 0.9;
  if (p == Protocol::LL) return tree / 3.8;
  if (p == Protocol::LL128) return tree * (multi_node ? 0.915 : 7.0 / 9.0);
  return tree;
}
// NVLink SHARP (NVSwitch gen 3): the switch reduces and multicasts, so each GPU sends and
// receives its buffer once per direction; the switch's reduction throughput limits it to this
// share of the link (fitted on nccl-tests all_reduce_perf on 8 H100 SXM, ~470 GB/s bus bandwidth
// at 450 GB/s NVLink; tests/data/nccl-tests/published.json).
constexpr double kNvlsShare = 0.60;

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
    if (p == Protocol::LL128 && !(intra.nvlink && !multi_node)) continue;
    const int k = static_cast<int>(p);
    const double lat = kBaseLat[0][k] + (steps - inter_steps) * intra.step_lat * kNvlinkStep[0][k] +
                       inter_steps * inter.step_lat * kNetStep[0][k];
    const double t = lat + volume / (bw * proto_share(0, p, op, multi_node));
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
    if (p == Protocol::LL128 && !(intra.nvlink && !multi_node)) continue;
    const int k = static_cast<int>(p);
    const double lat =
        kBaseLat[1][k] + 2 * ((per_node - 1) * intra.step_lat * kNvlinkStep[1][k] +
                              std::ceil(std::log2(std::max(1.0, nodes))) * inter.step_lat *
                                  kNetStep[1][k]);
    const double t = lat + 2 * bytes / (bw * proto_share(1, p, Collective::AllReduce, multi_node));
    if (t < best.time_s) best = {Algorithm::Tree, p, t, lat};
  }
  return best;
}

CollectiveEstimate nvls(Collective op, double bytes, double n, const Cluster& c, const Link& intra) {
  // Reduce-scatter and all-gather through the switch move (n-1)/n of the buffer per GPU; the
  // all-reduce moves the whole buffer once each way (multimem ld_reduce + st).
  const double volume = op == Collective::AllReduce ? bytes : (n - 1) / n * bytes;
  const double bw = c.intra.bandwidth_bytes_per_s * kNvlsShare;
  const double lat = kNvlsBaseLat + intra.step_lat;
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
    // Every rank sends (n-1)/n of its buffer, one peer at a time (NCCL send/recv pairs): the
    // bandwidth of the slowest hop, one latency per peer.
    const Link& l = multi ? inter : intra;
    const double lat = (n - 1) * l.step_lat;
    return {Algorithm::Ring, Protocol::Simple, lat + (n - 1) / n * bytes / l.bw, lat};
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
