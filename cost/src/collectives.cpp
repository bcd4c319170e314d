#include "parplan/cost/collectives.hpp"

#include <algorithm>
#include <cmath>

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
// Thakur, Rabenseifner & Gropp 2005: ring all-reduce 2(n-1) alpha + 2(n-1)/n M/B, all-gather and
// reduce-scatter (n-1) alpha + (n-1)/n M/B.
double ring(Collective op, double bytes, double n, double bw, double lat) {
  if (n <= 1) return 0.0;
  switch (op) {
    case Collective::AllReduce: return 2 * (n - 1) * lat + 2 * (n - 1) / n * bytes / bw;
    case Collective::AllGather:
    case Collective::ReduceScatter:
    case Collective::AllToAll: return (n - 1) * lat + (n - 1) / n * bytes / bw;
    case Collective::Broadcast: return (n - 1) * lat + bytes / bw;  // pipelined chain
    case Collective::SendRecv: return lat + bytes / bw;
  }
  return 0.0;
}
// Pipelined (double) binary tree, as NCCL's tree all-reduce: log2(n) latency steps each way,
// bandwidth term M/B per direction.
double tree(Collective op, double bytes, double n, double bw, double lat) {
  if (n <= 1) return 0.0;
  const double depth = std::ceil(std::log2(n));
  switch (op) {
    case Collective::AllReduce: return 2 * depth * lat + 2 * bytes / bw;
    case Collective::Broadcast: return depth * lat + bytes / bw;
    default: return ring(op, bytes, n, bw, lat);
  }
}
}  // namespace

double collective_time(Collective op, double bytes, const Group& g, const Cluster& c,
                       Algorithm algo) {
  if (g.size <= 1 || bytes <= 0) return 0.0;
  if (algo == Algorithm::Auto) algo = choose_algorithm(op, bytes, g, c);
  const LinkRates r = link_rates(c, g);
  const double n = double(g.size);
  if (op == Collective::SendRecv) {
    return g.spans_nodes() ? r.inter_latency_s + bytes / r.inter_bytes_per_s
                           : r.intra_latency_s + bytes / r.intra_bytes_per_s;
  }
  if (!g.spans_nodes()) {
    return algo == Algorithm::Tree ? tree(op, bytes, n, r.intra_bytes_per_s, r.intra_latency_s)
                                   : ring(op, bytes, n, r.intra_bytes_per_s, r.intra_latency_s);
  }
  const double k = double(g.per_node);  // group members per node
  const double nodes = n / k;
  if (algo == Algorithm::Hierarchical && k > 1) {
    // Two levels: intra-node reduce-scatter, inter-node collective on 1/k of the data among the
    // nodes, intra-node all-gather (NCCL/Horovod hierarchical all-reduce).
    const double intra_part = bytes;  // each phase moves the whole per-node buffer
    double t = 0;
    switch (op) {
      case Collective::AllReduce:
        t += ring(Collective::ReduceScatter, intra_part, k, r.intra_bytes_per_s, r.intra_latency_s);
        t += ring(Collective::AllReduce, bytes / k, nodes, r.inter_bytes_per_s, r.inter_latency_s);
        t += ring(Collective::AllGather, intra_part, k, r.intra_bytes_per_s, r.intra_latency_s);
        return t;
      case Collective::AllGather:
      case Collective::ReduceScatter:
        t += ring(op, bytes / k, nodes, r.inter_bytes_per_s, r.inter_latency_s);
        t += ring(op, bytes, k, r.intra_bytes_per_s, r.intra_latency_s);
        return t;
      default: break;
    }
  }
  // Flat ring or tree across nodes: every step is limited by the slower, inter-node hop.
  return algo == Algorithm::Tree ? tree(op, bytes, n, r.inter_bytes_per_s, r.inter_latency_s)
                                 : ring(op, bytes, n, r.inter_bytes_per_s, r.inter_latency_s);
}

Algorithm choose_algorithm(Collective op, double bytes, const Group& g, const Cluster& c) {
  if (op == Collective::SendRecv || g.size <= 1) return Algorithm::Ring;
  Algorithm best = Algorithm::Ring;
  double best_t = collective_time(op, bytes, g, c, Algorithm::Ring);
  const Algorithm others[] = {Algorithm::Tree, Algorithm::Hierarchical};
  for (Algorithm a : others) {
    if (a == Algorithm::Hierarchical && !(g.spans_nodes() && g.per_node > 1)) continue;
    if (a == Algorithm::Tree && !(op == Collective::AllReduce || op == Collective::Broadcast))
      continue;
    double t = collective_time(op, bytes, g, c, a);
    if (t < best_t) best_t = t, best = a;
  }
  return best;
}

}  // namespace parplan::cost
