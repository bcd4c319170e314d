#pragma once
// Collective communication time: alpha-beta cost per algorithm (Thakur et al. 2005) on the link
// class the group's placement uses, with hierarchical two-level collectives across nodes.
#include <cstdint>

#include "parplan/model/cluster.hpp"
#include "parplan/model/layout.hpp"

namespace parplan::cost {

enum class Collective : uint8_t { AllReduce, AllGather, ReduceScatter, Broadcast, AllToAll, SendRecv };
enum class Algorithm : uint8_t { Auto, Ring, Tree, Hierarchical, Nvls };
// NCCL's protocols: LL (8-byte flag+data stores, lowest latency, a quarter of the bandwidth),
// LL128 (120 of 128 bytes payload, NVLink only), Simple (full bandwidth, highest latency).
enum class Protocol : uint8_t { LL, LL128, Simple };

// How a communication group sits on the cluster.
struct Group {
  int64_t size = 1;      // ranks in the group
  int64_t per_node = 1;  // of them on one node (size when the group is inside a node)
  int64_t groups_sharing_nic = 1;  // concurrent groups of this kind whose traffic leaves a node
                                   // through the same NICs
  bool spans_nodes() const { return size > per_node; }
};

// Placement of a layout's groups, Megatron rank order (tp fastest, then cp, dp, pp).
struct Placement {
  Group tp, cp, dp, pp;
};
Placement place(const Layout& l, const Cluster& c);

// Link rates after efficiency: bytes/s and latency for intra-node and per-GPU inter-node traffic.
struct LinkRates {
  double intra_bytes_per_s, intra_latency_s;
  double inter_bytes_per_s, inter_latency_s;  // per GPU share of the node's NICs
};
LinkRates link_rates(const Cluster& c, const Group& g);

// Seconds for one collective. `bytes` follows NCCL's convention: the full buffer per rank for
// all-reduce and broadcast, the gathered (output) size for all-gather, the input size for
// reduce-scatter, the message size for send/recv.
double collective_time(Collective op, double bytes, const Group& g, const Cluster& c,
                       Algorithm algo = Algorithm::Auto);

// Which algorithm Auto picks (for reports and the simulator).
Algorithm choose_algorithm(Collective op, double bytes, const Group& g, const Cluster& c);

// One collective as NCCL runs it: the fastest protocol for the algorithm (or the fastest
// algorithm and protocol when `algo` is Auto), its time and its parts.
struct CollectiveEstimate {
  Algorithm algo = Algorithm::Ring;
  Protocol proto = Protocol::Simple;
  double time_s = 0;
  double latency_s = 0;  // the size-independent part
};
CollectiveEstimate collective_estimate(Collective op, double bytes, const Group& g,
                                       const Cluster& c, Algorithm algo = Algorithm::Auto);
// nccl-tests bus bandwidth = algorithm bandwidth (bytes / time) x this factor (PERFORMANCE.md):
// all-reduce 2(n-1)/n, all-gather / reduce-scatter / all-to-all (n-1)/n, else 1.
double bus_bandwidth_factor(Collective op, int64_t n);

const char* to_string(Collective op);
const char* to_string(Algorithm a);
const char* to_string(Protocol p);

}  // namespace parplan::cost
