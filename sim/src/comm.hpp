#pragma once
// Collectives as point-to-point flows between SimGrid actors (internal to sim/).
// Every member of a group calls run_collective with its index; the algorithm's real messages
// (ring steps, tree edges, hierarchical phases) travel on the platform's links, so groups that
// share links contend.
#include <cstdint>
#include <memory>
#include <simgrid/s4u/Mailbox.hpp>
#include <string>
#include <vector>

#include "parplan/cost/collectives.hpp"
#include "parplan/sim/platform.hpp"
#include "parplan/sim/trace.hpp"

namespace parplan::sim::detail {

struct CommGroup {
  int64_t id = 0;
  std::vector<int64_t> gpus;                  // members, in ring order
  std::vector<simgrid::s4u::Mailbox*> inbox;  // inbox[i]: messages to member i
  // Double binary tree: tree_inbox[t][0][i] reduce messages to member i in tree t, [t][1][i]
  // broadcast messages.
  std::vector<simgrid::s4u::Mailbox*> tree_inbox[2][2];
  double ring_latency_s = 0;  // largest route latency between ring neighbours
  double ring_bandwidth = 0;  // smallest route bandwidth between ring neighbours
  int64_t per_node = 1;       // members on each node (hierarchical needs equal)
  // Hierarchical sub-groups, per member: the node-local group and the same-local-index group.
  std::vector<std::shared_ptr<CommGroup>> intra_of, inter_of;
  std::vector<int> intra_index, inter_index;

  int size() const { return static_cast<int>(gpus.size()); }
  cost::Group shape() const;
};

class Comms {
 public:
  explicit Comms(const Platform& p) : platform_(p) {}
  std::shared_ptr<CommGroup> make_group(const std::vector<int64_t>& gpus);
  const Platform& platform() const { return platform_; }
  uint64_t messages = 0;   // point-to-point messages sent so far
  Trace* trace = nullptr;  // when set, flows in flight per link class are recorded
  // Bookkeeping of one message for the trace's link-class tracks.
  void flow_started(int64_t src, int64_t dst);
  void flow_ended(int64_t src, int64_t dst);

 private:
  std::shared_ptr<CommGroup> make_flat(const std::vector<int64_t>& gpus);
  const Platform& platform_;
  int64_t next_id_ = 0;
  double inflight_[2] = {0, 0};
};

// The algorithm the simulator runs for `algo` (Auto resolved by the cost model's choice).
cost::Algorithm resolve(cost::Algorithm algo, cost::Collective op, double bytes, const CommGroup& g,
                        const Cluster& c);

// Runs member `me`'s part of one collective; returns when this member's part is done.
// `bytes` follows cost::collective_time's convention. SendRecv: member 0 sends to member 1.
void run_collective(Comms& comms, const CommGroup& g, int me, cost::Collective op, double bytes,
                    cost::Algorithm algo);

// Pieces a pipelined tree all-reduce of `bytes` is cut into (balances fill time against the
// per-piece latency).
int tree_pieces(double bytes, const CommGroup& g);

// Latency (alpha) part of one collective's critical path; used when several collectives are
// coarsened into one flow set (the bandwidth part scales with bytes, the latency part does not).
double latency_s(cost::Collective op, cost::Algorithm algo, const CommGroup& g);

// Time of one collective whose flows have their links to themselves (no other traffic on them):
// the same steps as run_collective, in closed form. Used for TP groups on exclusive links.
double exclusive_time(cost::Collective op, cost::Algorithm algo, double bytes, const CommGroup& g);

}  // namespace parplan::sim::detail
