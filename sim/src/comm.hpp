#pragma once
// Collectives as point-to-point flows between SimGrid actors (internal to sim/).
// Every member of a group calls run_collective with its index; the algorithm's real messages
// (ring steps, tree edges, hierarchical phases) travel on the platform's links, so groups that
// share links contend.
#include <cstdint>
#include <memory>
#include <simgrid/s4u/Mailbox.hpp>
#include <simgrid/s4u/Semaphore.hpp>
#include <string>
#include <utility>
#include <vector>

#include "parplan/cost/collectives.hpp"
#include "parplan/sim/platform.hpp"
#include "parplan/sim/trace.hpp"

namespace parplan::sim::detail {

// Ring state of a symmetric group's representatives (see CommGroup::reps): posted[c] counts the
// chunks sent to representative c, done[c] the transfers of c's chunks that completed.
struct SymRing {
  std::vector<simgrid::s4u::SemaphorePtr> posted, done;
  // Tree all-reduce: chain[t][j] counts the pieces of tree t that reached node j's head from its
  // node's chain (node 0's chain runs; the others' arrive at the same times by symmetry).
  std::vector<simgrid::s4u::SemaphorePtr> chain[2];
};

struct CommGroup {
  int64_t id = 0;
  std::vector<int64_t> gpus;                  // members, in ring order
  std::vector<simgrid::s4u::Mailbox*> inbox;  // inbox[i]: messages to member i
  double ring_latency_s = 0;  // largest route latency between ring neighbours
  double ring_bandwidth = 0;  // smallest route bandwidth between ring neighbours
  int64_t per_node = 1;       // members on each node (hierarchical needs equal)
  // Hierarchical sub-groups, per member: the node-local group and the same-local-index group.
  std::vector<std::shared_ptr<CommGroup>> intra_of, inter_of;
  std::vector<int> intra_index, inter_index;

  int size() const { return static_cast<int>(gpus.size()); }
  // The cost model's view of the group: every GPU of a node runs a collective of this kind at
  // once (SPMD), so each gets nics_per_node / gpus_per_node NICs, as the rail wiring gives it.
  cost::Group shape() const;
  int64_t gpus_per_node = 1;
  double nvls_bytes_per_s = 0;  // NVLink SHARP rate per GPU (cost::nvls_bytes_per_s)
  mutable double inter_node_bytes = 0;  // bytes of this group's messages that crossed nodes so far
  mutable double intra_node_bytes = 0;  // and that stayed inside a node
  // Exact symmetry (docs/simulation.md "Symmetric collectives"): the group holds the same GPUs of
  // each of its nodes, the nodes sit on a non-blocking fabric and every GPU's inter-node flows
  // leave through its own rail NIC, so every node's members do the same thing at the same time on
  // links no other node's flows of this group touch. Then only the `reps` members of its first
  // node run (the others return at once); a ring's last representative sends to the next node's
  // first member (the real route), whose part is the first representative's, and an all-to-all's
  // flows leave as they would. 0: every member runs. `copies`: the nodes they stand for.
  int reps = 0;
  int64_t copies = 1;
  std::shared_ptr<SymRing> sym;
};

// What runs: the algorithm, NCCL's protocol (its base latency, per-step latency factors and
// bandwidth share from cost::protocol_params), and for all-to-alls whether the per-peer latency
// of NCCL's grouped send/recv is paid (cost::collective_time) or one latency for all peers
// (the MoE dispatch/combine of cost/moe.cpp).
struct Choice {
  cost::Algorithm algo = cost::Algorithm::Ring;
  cost::Protocol proto = cost::Protocol::Simple;
  bool one_latency = false;
  bool p2p = false;  // ring steps as NCCL send/recv pairs (ring attention): no collective launch
  Choice() = default;
  Choice(cost::Algorithm a, cost::Protocol p = cost::Protocol::Simple, bool one = false)  // NOLINT
      : algo(a), proto(p), one_latency(one) {}
};

class Comms {
 public:
  Comms(const Platform& p, const Cluster& c) : platform_(p), cluster_(c) {}
  // `symmetric`: the caller knows every member's traffic mirrors its first node's (a lone
  // collective; the DP and EP groups of aggregated replicas): make the group symmetric when its
  // shape is (reps > 0).
  std::shared_ptr<CommGroup> make_group(const std::vector<int64_t>& gpus, bool symmetric = false);
  // Members of the first node when `gpus` has the symmetric shape (see CommGroup::reps), else 0.
  int symmetric_reps(const std::vector<int64_t>& gpus) const;
  // Whether `gpus` all sit in one NVLink zone whose ports are alike (NVSwitch / NVLink: one
  // split-duplex link per GPU into the switch, nothing else on it).
  bool in_one_zone(const std::vector<int64_t>& gpus) const;
  // The intra-zone representative (docs/simulation.md "Symmetric collectives"): a group inside
  // one NVLink zone whose members all do the same at the same times (the replicas of an
  // aggregated step) runs its all-to-alls from its first `reps` members only. Each of them sends
  // every flow of the full collective, so its port up carries what it carries there; the
  // receivers' ports down carry fewer flows, which bind nothing when every port has the same
  // bandwidth each way and no other traffic. Bytes are counted size / reps times.
  void zone_symmetric(CommGroup& g, int reps) const;
  // The TP-lane representative (docs/simulation.md "Symmetric collectives"): a group inside one
  // NVLink zone whose members do the same at the same times on their own ports (the TP lanes of
  // a stage, each lane's flows leaving through its own port) runs its ring / NVLS collectives
  // from member 0 only: its transfer to member 1 (the real route) stands for every member's to
  // its successor, counted size times. Returns whether g was made so.
  bool lane_symmetric(CommGroup& g) const;
  // Whether the inter-node fabric never limits a node's injection (star, non-blocking fat-tree):
  // flows of different GPUs meet only on their own NICs and GPU links.
  bool open_fabric() const;
  // One transfer of a symmetric ring, run by the receiving representative: `bytes` from member
  // `from` to member `to` (its real successor), blocking; counted `copies` times.
  void transfer(const CommGroup& g, int from, int to, double bytes, const Choice& choice,
                double share);
  const Platform& platform() const { return platform_; }
  const Cluster& cluster() const { return cluster_; }
  uint64_t messages = 0;   // point-to-point messages sent so far
  Trace* trace = nullptr;  // when set, flows in flight per link class are recorded
  // Bookkeeping of one message for the trace's link-class tracks.
  void flow_started(int64_t src, int64_t dst);
  void flow_ended(int64_t src, int64_t dst);
  // Posts one message of member `from` of g to mailbox `to` (member `dst`): `bytes` of data
  // sent as `choice`'s protocol (wire bytes = bytes / share, its per-step latency factor in
  // the size, see install_protocol_latencies); counts it in the group's intra/inter bytes.
  simgrid::s4u::CommPtr post(const CommGroup& g, int from, int dst, simgrid::s4u::Mailbox* to,
                             double bytes, const Choice& choice, double share);

 private:
  std::shared_ptr<CommGroup> make_flat(const std::vector<int64_t>& gpus, bool symmetric);
  const Platform& platform_;
  const Cluster& cluster_;
  int64_t next_id_ = 0;
  double inflight_[2] = {0, 0};
};

// Latency and bottleneck bandwidth of the platform's route from GPU a to GPU b.
std::pair<double, double> route(const Platform& p, int64_t a, int64_t b);

// NCCL's tree all-reduce (comm_tree.cpp): member `me`'s part, `share` of the link bandwidth.
void tree_allreduce(Comms& comms, const CommGroup& g, int me, double bytes, const Choice& ch,
                    double share);

// Message size of `bytes` for a flow outside any collective protocol (PP sends): a multiple of
// 8, so that the latency callback reads protocol code 0 (the route's own latency).
uint64_t plain_size(double bytes);

// Registers the SimGrid latency-factor callback that gives each message its protocol's
// per-step latency (cost::protocol_params' intra_step / inter_step times the route latency,
// which is the Simple protocol's): the protocol is encoded in the message size modulo 8.
// Call once per engine, after the platform is built, with the CM02 network model.
void install_protocol_latencies();

// What the simulator runs for `algo` (Auto: the cost model's algorithm and protocol for the
// group's shape; an explicit algorithm gets the cost model's best protocol for it).
Choice resolve(cost::Algorithm algo, cost::Collective op, double bytes, const CommGroup& g,
               const Cluster& c);

// Runs member `me`'s part of one collective; returns when this member's part is done.
// `bytes` follows cost::collective_time's convention. SendRecv: member 0 sends to member 1.
void run_collective(Comms& comms, const CommGroup& g, int me, cost::Collective op, double bytes,
                    const Choice& choice);

// Latency (alpha) part of one collective's critical path; used when several collectives are
// coarsened into one flow set (the bandwidth part scales with bytes, the latency part does not).
double latency_s(cost::Collective op, const Choice& choice, const CommGroup& g);

// Time of one collective whose flows have their links to themselves (no other traffic on them):
// the same steps as run_collective, in closed form. Used for TP groups on exclusive links.
double exclusive_time(cost::Collective op, const Choice& choice, double bytes, const CommGroup& g);

}  // namespace parplan::sim::detail
