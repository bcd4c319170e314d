#include "comm.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <simgrid/s4u/Actor.hpp>
#include <simgrid/s4u/Comm.hpp>
#include <simgrid/s4u/Engine.hpp>
#include <simgrid/s4u/Host.hpp>

#include "names.hpp"
#include "parplan/model/error.hpp"

namespace sg4 = simgrid::s4u;

namespace parplan::sim::detail {

namespace {
int payload = 0;  // messages carry no data; only their simulated size matters

// Latency and bottleneck bandwidth of the route from GPU a to GPU b.
std::pair<double, double> route(const Platform& p, int64_t a, int64_t b) {
  std::vector<sg4::Link*> links;
  double lat = 0;
  p.hosts[static_cast<size_t>(a)]->route_to(p.hosts[static_cast<size_t>(b)], links, &lat);
  double bw = std::numeric_limits<double>::infinity();
  for (auto* l : links) bw = std::min(bw, l->get_bandwidth());
  return {lat, bw};
}

uint64_t msg_size(double bytes) {
  return static_cast<uint64_t>(std::llround(std::max(0.0, bytes)));
}
}  // namespace

void Comms::flow_started(int64_t src, int64_t dst) {
  if (!trace || !trace->enabled) return;
  const int k = platform_.node_of(src) == platform_.node_of(dst) ? 0 : 1;
  trace->counter(k == 0 ? "intra-node flows" : "inter-node flows", sg4::Engine::get_clock(),
                 ++inflight_[k]);
}
void Comms::flow_ended(int64_t src, int64_t dst) {
  if (!trace || !trace->enabled) return;
  const int k = platform_.node_of(src) == platform_.node_of(dst) ? 0 : 1;
  trace->counter(k == 0 ? "intra-node flows" : "inter-node flows", sg4::Engine::get_clock(),
                 --inflight_[k]);
}

cost::Group CommGroup::shape() const {
  cost::Group s;
  s.size = size();
  s.per_node = per_node;
  s.groups_sharing_nic = 1;
  return s;
}

std::shared_ptr<CommGroup> Comms::make_flat(const std::vector<int64_t>& gpus) {
  auto g = std::make_shared<CommGroup>();
  g->id = next_id_++;
  g->gpus = gpus;
  for (size_t i = 0; i < gpus.size(); ++i)
    g->inbox.push_back(
        sg4::Mailbox::by_name(cat({"g", std::to_string(g->id), ".", std::to_string(i)})));
  for (size_t i = 0; i < gpus.size(); ++i)
    for (int t = 0; t < 2; ++t)
      for (int d = 0; d < 2; ++d)
        g->tree_inbox[t][d].push_back(sg4::Mailbox::by_name(cat(
            {"g", std::to_string(g->id), ".", std::to_string(i), t ? "b" : "a", d ? "d" : "u"})));
  g->ring_bandwidth = std::numeric_limits<double>::infinity();
  if (gpus.size() > 1)
    for (size_t i = 0; i < gpus.size(); ++i) {
      const auto [lat, bw] = route(platform_, gpus[i], gpus[(i + 1) % gpus.size()]);
      g->ring_latency_s = std::max(g->ring_latency_s, lat);
      g->ring_bandwidth = std::min(g->ring_bandwidth, bw);
    }
  std::map<int64_t, int64_t> per_node;
  for (auto x : gpus) per_node[platform_.node_of(x)]++;
  int64_t lo = gpus.size(), hi = 0;
  for (auto& [n, k] : per_node) lo = std::min(lo, k), hi = std::max(hi, k);
  g->per_node = lo == hi ? lo : 1;
  return g;
}

std::shared_ptr<CommGroup> Comms::make_group(const std::vector<int64_t>& gpus) {
  auto g = make_flat(gpus);
  const int64_t L = g->per_node;
  const int64_t n = g->size();
  if (L > 1 && L < n) {
    // Sub-groups for hierarchical collectives: by node, and by index within the node.
    std::map<int64_t, std::vector<int>> by_node;
    for (int i = 0; i < n; ++i)
      by_node[platform_.node_of(gpus[static_cast<size_t>(i)])].push_back(i);
    g->intra_of.resize(static_cast<size_t>(n));
    g->inter_of.resize(static_cast<size_t>(n));
    g->intra_index.resize(static_cast<size_t>(n));
    g->inter_index.resize(static_cast<size_t>(n));
    std::vector<std::vector<int>> lanes(static_cast<size_t>(L));
    for (auto& [node, members] : by_node) {
      std::vector<int64_t> ids;
      for (int m : members) ids.push_back(gpus[static_cast<size_t>(m)]);
      auto sub = make_flat(ids);
      for (size_t k = 0; k < members.size(); ++k) {
        g->intra_of[static_cast<size_t>(members[k])] = sub;
        g->intra_index[static_cast<size_t>(members[k])] = static_cast<int>(k);
        lanes[k].push_back(members[k]);
      }
    }
    for (auto& lane : lanes) {
      std::vector<int64_t> ids;
      for (int m : lane) ids.push_back(gpus[static_cast<size_t>(m)]);
      auto sub = make_flat(ids);
      for (size_t k = 0; k < lane.size(); ++k) {
        g->inter_of[static_cast<size_t>(lane[k])] = sub;
        g->inter_index[static_cast<size_t>(lane[k])] = static_cast<int>(k);
      }
    }
  }
  return g;
}

cost::Algorithm resolve(cost::Algorithm algo, cost::Collective op, double bytes, const CommGroup& g,
                        const Cluster& c) {
  if (algo == cost::Algorithm::Auto) algo = cost::choose_algorithm(op, bytes, g.shape(), c);
  if (algo == cost::Algorithm::Auto) algo = cost::Algorithm::Ring;
  if (algo == cost::Algorithm::Hierarchical && g.intra_of.empty()) algo = cost::Algorithm::Ring;
  return algo;
}

namespace {

// Ring steps: send a chunk to the successor, receive one from the predecessor, `steps` times.
void ring(Comms& comms, const CommGroup& g, int me, double chunk, int steps) {
  const int n = g.size();
  if (n < 2 || steps <= 0) return;
  auto* next = g.inbox[static_cast<size_t>((me + 1) % n)];
  auto* mine = g.inbox[static_cast<size_t>(me)];
  const uint64_t size = msg_size(chunk);
  const int64_t src = g.gpus[static_cast<size_t>(me)],
                dst = g.gpus[static_cast<size_t>((me + 1) % n)];
  for (int s = 0; s < steps; ++s) {
    auto out = next->put_async(&payload, size);
    comms.messages++;
    comms.flow_started(src, dst);
    mine->get<int>();
    out->wait();
    comms.flow_ended(src, dst);
  }
}

// Binomial tree broadcast from member 0.
void tree_broadcast(Comms& comms, const CommGroup& g, int me, double bytes) {
  const int n = g.size();
  const uint64_t size = msg_size(bytes);
  int top = 1;
  while (top < n) top <<= 1;
  // Receive from the parent (clear my lowest set bit), then send to children below it.
  int low = me == 0 ? top : (me & -me);
  if (me != 0) g.inbox[static_cast<size_t>(me)]->get<int>();
  std::vector<sg4::CommPtr> outs;
  for (int mask = low >> 1; mask >= 1; mask >>= 1)
    if (me + mask < n) {
      outs.push_back(g.inbox[static_cast<size_t>(me + mask)]->put_async(&payload, size));
      comms.messages++;
    }
  for (auto& o : outs) o->wait();
}

// NCCL's double binary tree all-reduce: two binary trees (the second mirrored, so most inner
// nodes of one are leaves of the other), each reducing then broadcasting half of the data,
// pipelined in pieces.
void double_tree_allreduce(Comms& comms, const CommGroup& g, int me, double bytes) {
  const int n = g.size();
  const int K = tree_pieces(bytes, g);
  const uint64_t size = msg_size(bytes / 2 / K);
  int parent[2];
  std::vector<int> children[2];
  for (int t = 0; t < 2; ++t) {
    auto member = [&](int pos) { return t == 0 ? pos : n - 1 - pos; };
    const int pos = t == 0 ? me : n - 1 - me;
    parent[t] = pos == 0 ? -1 : member((pos - 1) / 2);
    for (int c : {2 * pos + 1, 2 * pos + 2})
      if (c < n) children[t].push_back(member(c));
  }
  const int64_t self = g.gpus[static_cast<size_t>(me)];
  // Each tree runs in its own actor (as NCCL runs them on separate channels), so one tree's
  // pieces never wait for the other's.
  auto run_tree = [&comms, &g, me, K, size, self](int t, int up, const std::vector<int>& kids) {
    std::vector<sg4::CommPtr> outs;
    std::vector<int64_t> dsts;
    auto send = [&](int to, int d) {
      outs.push_back(g.tree_inbox[t][d][static_cast<size_t>(to)]->put_async(&payload, size));
      dsts.push_back(g.gpus[static_cast<size_t>(to)]);
      comms.messages++;
      comms.flow_started(self, dsts.back());
    };
    auto* reduce_box = g.tree_inbox[t][0][static_cast<size_t>(me)];
    auto* bcast_box = g.tree_inbox[t][1][static_cast<size_t>(me)];
    for (int k = 0; k < K; ++k) {
      for (size_t c = 0; c < kids.size(); ++c) reduce_box->get<int>();
      if (up >= 0) send(up, 0);
    }
    for (int k = 0; k < K; ++k) {
      if (up >= 0) bcast_box->get<int>();
      for (int c : kids) send(c, 1);
    }
    for (size_t i = 0; i < outs.size(); ++i) {
      outs[i]->wait();
      comms.flow_ended(self, dsts[i]);
    }
  };
  auto helper =
      sg4::Actor::create("tree", sg4::this_actor::get_host(),
                         [&run_tree, &parent, &children] { run_tree(1, parent[1], children[1]); });
  run_tree(0, parent[0], children[0]);
  helper->join();
}

}  // namespace

int tree_pieces(double bytes, const CommGroup& g) {
  const double depth = std::ceil(std::log2(static_cast<double>(std::max(2, g.size()))));
  if (!(g.ring_latency_s > 0) || !(g.ring_bandwidth > 0)) return 1;
  const double k = std::sqrt(depth * bytes / (3 * g.ring_bandwidth * g.ring_latency_s));
  return static_cast<int>(std::clamp(std::round(k), 1.0, 64.0));
}

void run_collective(Comms& comms, const CommGroup& g, int me, cost::Collective op, double bytes,
                    cost::Algorithm algo) {
  using cost::Algorithm;
  using cost::Collective;
  const int n = g.size();
  if (n < 2 || !(bytes > 0)) return;
  if (algo == Algorithm::Hierarchical && !g.intra_of.empty() &&
      (op == Collective::AllReduce || op == Collective::AllGather ||
       op == Collective::ReduceScatter)) {
    const auto& intra = *g.intra_of[static_cast<size_t>(me)];
    const auto& inter = *g.inter_of[static_cast<size_t>(me)];
    const int ii = g.intra_index[static_cast<size_t>(me)];
    const int ie = g.inter_index[static_cast<size_t>(me)];
    const double L = static_cast<double>(intra.size());
    // Intra-node reduce-scatter, inter-node collective on 1/L of the data, intra-node all-gather.
    if (op != Collective::AllGather)
      run_collective(comms, intra, ii, Collective::ReduceScatter, bytes, Algorithm::Ring);
    run_collective(comms, inter, ie, op, bytes / L, Algorithm::Ring);
    if (op != Collective::ReduceScatter)
      run_collective(comms, intra, ii, Collective::AllGather, bytes, Algorithm::Ring);
    return;
  }
  const double chunk = bytes / n;
  switch (op) {
    case Collective::AllReduce:
      if (algo == Algorithm::Tree) {
        double_tree_allreduce(comms, g, me, bytes);
      } else {
        ring(comms, g, me, chunk, 2 * (n - 1));
      }
      return;
    case Collective::AllGather:
    case Collective::ReduceScatter:
      ring(comms, g, me, chunk, n - 1);
      return;
    case Collective::Broadcast:
      tree_broadcast(comms, g, me, bytes);
      return;
    case Collective::AllToAll: {
      std::vector<sg4::CommPtr> outs;
      for (int k = 1; k < n; ++k) {
        outs.push_back(
            g.inbox[static_cast<size_t>((me + k) % n)]->put_async(&payload, msg_size(chunk)));
        comms.messages++;
      }
      // Every receive posted at once: the n - 1 incoming flows run concurrently (a blocking get
      // per peer would let only one in at a time and serialise the NIC and NVLink parts).
      std::vector<int*> got(static_cast<size_t>(n - 1), nullptr);
      for (int k = 1; k < n; ++k)
        outs.push_back(g.inbox[static_cast<size_t>(me)]->get_async<int>(&got[size_t(k - 1)]));
      for (auto& o : outs) o->wait();
      return;
    }
    case Collective::SendRecv:
      if (me == 0) {
        g.inbox[1]->put(&payload, msg_size(bytes));
        comms.messages++;
      } else if (me == 1) {
        g.inbox[1]->get<int>();
      }
      return;
  }
}

double latency_s(cost::Collective op, cost::Algorithm algo, const CommGroup& g) {
  using cost::Algorithm;
  using cost::Collective;
  const int n = g.size();
  if (n < 2) return 0;
  if (algo == Algorithm::Hierarchical && !g.intra_of.empty()) {
    const auto& intra = *g.intra_of[0];
    const auto& inter = *g.inter_of[0];
    double t = latency_s(op, Algorithm::Ring, inter);
    if (op != Collective::AllGather)
      t += latency_s(Collective::ReduceScatter, Algorithm::Ring, intra);
    if (op != Collective::ReduceScatter)
      t += latency_s(Collective::AllGather, Algorithm::Ring, intra);
    return t;
  }
  const double depth = std::ceil(std::log2(static_cast<double>(n)));
  switch (op) {
    case Collective::AllReduce:
      return algo == Algorithm::Tree ? 2 * depth * g.ring_latency_s
                                     : 2.0 * (n - 1) * g.ring_latency_s;
    case Collective::AllGather:
    case Collective::ReduceScatter:
      return (n - 1) * g.ring_latency_s;
    case Collective::Broadcast:
      return depth * g.ring_latency_s;
    case Collective::AllToAll:
    case Collective::SendRecv:
      return g.ring_latency_s;
  }
  return 0;
}

double exclusive_time(cost::Collective op, cost::Algorithm algo, double bytes, const CommGroup& g) {
  using cost::Algorithm;
  using cost::Collective;
  const int n = g.size();
  if (n < 2 || !(bytes > 0)) return 0;
  const double B = g.ring_bandwidth, a = g.ring_latency_s;
  if (algo == Algorithm::Hierarchical && !g.intra_of.empty() &&
      (op == Collective::AllReduce || op == Collective::AllGather ||
       op == Collective::ReduceScatter)) {
    const auto& intra = *g.intra_of[0];
    const auto& inter = *g.inter_of[0];
    const double L = static_cast<double>(intra.size());
    double t = exclusive_time(op, Algorithm::Ring, bytes / L, inter);
    if (op != Collective::AllGather)
      t += exclusive_time(Collective::ReduceScatter, Algorithm::Ring, bytes, intra);
    if (op != Collective::ReduceScatter)
      t += exclusive_time(Collective::AllGather, Algorithm::Ring, bytes, intra);
    return t;
  }
  const double depth = std::ceil(std::log2(static_cast<double>(n)));
  switch (op) {
    case Collective::AllReduce:
      return algo == Algorithm::Tree ? 2 * depth * (a + bytes / B)
                                     : 2.0 * (n - 1) * (a + bytes / n / B);
    case Collective::AllGather:
    case Collective::ReduceScatter:
      return (n - 1) * (a + bytes / n / B);
    case Collective::Broadcast:
      return depth * (a + bytes / B);
    case Collective::AllToAll:
      return a + (n - 1) * bytes / n / B;
    case Collective::SendRecv:
      return a + bytes / B;
  }
  return 0;
}

}  // namespace parplan::sim::detail
