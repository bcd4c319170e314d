#include "comm.hpp"

#include <algorithm>
#include <cmath>
#include <deque>
#include <limits>
#include <map>
#include <unordered_set>
#include <simgrid/s4u/Actor.hpp>
#include <simgrid/s4u/Comm.hpp>
#include <simgrid/s4u/Engine.hpp>
#include <simgrid/kernel/resource/NetworkModelIntf.hpp>
#include <simgrid/s4u/Host.hpp>
#include <simgrid/s4u/NetZone.hpp>

#include "names.hpp"
#include "parplan/cost/nccl_protocols.hpp"
#include "parplan/model/error.hpp"

namespace sg4 = simgrid::s4u;

namespace parplan::sim::detail {

namespace {
int payload = 0;  // messages carry no data; only their simulated size matters

}  // namespace

std::pair<double, double> route(const Platform& p, int64_t a, int64_t b) {
  std::vector<sg4::Link*> links;
  double lat = 0;
  p.hosts[static_cast<size_t>(a)]->route_to(p.hosts[static_cast<size_t>(b)], links, &lat);
  double bw = std::numeric_limits<double>::infinity();
  for (auto* l : links) bw = std::min(bw, l->get_bandwidth());
  return {lat, bw};
}

namespace {

// Protocol codes carried in the message size modulo 8 (0: the route's latency as it is).
int protocol_code(const Choice& ch) {
  using cost::Algorithm;
  using cost::Protocol;
  if (ch.algo == Algorithm::Ring || ch.algo == Algorithm::Hierarchical)
    return ch.proto == Protocol::LL ? 1 : ch.proto == Protocol::LL128 ? 2 : 0;
  if (ch.algo == Algorithm::Tree)
    return ch.proto == Protocol::LL ? 3 : ch.proto == Protocol::LL128 ? 4 : 5;
  return 0;
}
Choice choice_of_code(int code) {
  using cost::Algorithm;
  using cost::Protocol;
  switch (code) {
    case 1: return {Algorithm::Ring, Protocol::LL};
    case 2: return {Algorithm::Ring, Protocol::LL128};
    case 3: return {Algorithm::Tree, Protocol::LL};
    case 4: return {Algorithm::Tree, Protocol::LL128};
    case 5: return {Algorithm::Tree, Protocol::Simple};
    default: return {Algorithm::Ring, Protocol::Simple};
  }
}
uint64_t wire_size(double bytes, int code) {
  return static_cast<uint64_t>(std::llround(std::max(0.0, bytes) / 8)) * 8 +
         static_cast<uint64_t>(code);
}
}  // namespace

uint64_t plain_size(double bytes) {
  return wire_size(bytes, 0);
}

void install_protocol_latencies() {
  auto* model = sg4::Engine::get_instance()->get_netzone_root()->get_network_model();
  model->set_lat_factor_cb([](double size, const sg4::Host* src, const sg4::Host* dst,
                              const std::vector<sg4::Link*>&,
                              const std::unordered_set<sg4::NetZone*>&) {
    const int code = static_cast<int>(static_cast<uint64_t>(std::llround(size)) % 8);
    if (code == 0) return 1.0;
    const Choice ch = choice_of_code(code);
    const auto pp = cost::protocol_params(ch.algo, ch.proto, cost::Collective::AllReduce, false);
    return src->get_englobing_zone() == dst->get_englobing_zone() ? pp.intra_step : pp.inter_step;
  });
}

sg4::CommPtr Comms::post(const CommGroup& g, int from, int dst, sg4::Mailbox* to, double bytes,
                         const Choice& choice, double share) {
  const int64_t a = g.gpus[static_cast<size_t>(from)], b = g.gpus[static_cast<size_t>(dst)];
  if (platform_.node_of(a) == platform_.node_of(b))
    g.intra_node_bytes += bytes;
  else
    g.inter_node_bytes += bytes;
  ++messages;
  flow_started(a, b);
  return to->put_async(&payload, wire_size(bytes / share, protocol_code(choice)));
}

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
  s.groups_sharing_nic = gpus_per_node;
  return s;
}

int Comms::symmetric_reps(const std::vector<int64_t>& gpus) const {
  const size_t n = gpus.size();
  if (!open_fabric() || n < 2) return 0;
  const auto& p = platform_;
  size_t L = 0;
  while (L < n && p.node_of(gpus[L]) == p.node_of(gpus[0])) ++L;
  if (L == n || n % L != 0) return 0;  // one node, or unequal nodes
  const int64_t gpn = p.gpus_per_node;
  for (size_t i = 0; i < n; ++i) {
    const size_t head = i / L * L;
    if (p.node_of(gpus[i]) != p.node_of(gpus[head]) || gpus[i] % gpn != gpus[i % L] % gpn)
      return 0;  // not the same GPUs of each node
    if (head > 0 && i == head && p.node_of(gpus[i]) <= p.node_of(gpus[head - L])) return 0;
  }
  return static_cast<int>(L);
}

bool Comms::in_one_zone(const std::vector<int64_t>& gpus) const {
  const IntraKind k = cluster_.intra.kind;
  if (gpus.size() < 2 || (k != IntraKind::NvSwitch && k != IntraKind::NvLink)) return false;
  for (auto x : gpus)
    if (platform_.node_of(x) != platform_.node_of(gpus[0])) return false;
  return true;
}

bool Comms::open_fabric() const {
  const Cluster& c = cluster_;
  // A fabric that never limits a node's injection bandwidth (fat-tree links carry it whole,
  // platform.cpp): flows of different nodes meet only on the NICs and GPU links of their ends.
  return c.inter.topology == Topology::Star ||
         (c.inter.topology == Topology::FatTree && c.inter.fat_tree_oversubscription <= 1);
}

bool Comms::lane_symmetric(CommGroup& g) const {
  if (g.size() < 2 || g.reps > 0 || !in_one_zone(g.gpus)) return false;
  g.reps = 1;
  g.copies = g.size();
  g.sym = std::make_shared<SymRing>();
  g.sym->posted.push_back(sg4::Semaphore::create(0));
  g.sym->done.push_back(sg4::Semaphore::create(0));
  return true;
}

void Comms::zone_symmetric(CommGroup& g, int reps) const {
  if (reps <= 0 || reps >= g.size() || g.size() % reps != 0 || !in_one_zone(g.gpus)) return;
  g.reps = reps;
  g.copies = g.size() / reps;
}

void Comms::transfer(const CommGroup& g, int from, int to, double bytes, const Choice& choice,
                     double share) {
  const int64_t a = g.gpus[static_cast<size_t>(from)], b = g.gpus[static_cast<size_t>(to)];
  const double counted = bytes * static_cast<double>(g.copies);
  if (platform_.node_of(a) == platform_.node_of(b))
    g.intra_node_bytes += counted;
  else
    g.inter_node_bytes += counted;
  ++messages;
  flow_started(a, b);
  sg4::Comm::sendto(platform_.hosts[static_cast<size_t>(a)], platform_.hosts[static_cast<size_t>(b)],
                    wire_size(bytes / share, protocol_code(choice)));
  flow_ended(a, b);
}

std::shared_ptr<CommGroup> Comms::make_flat(const std::vector<int64_t>& gpus, bool symmetric) {
  auto g = std::make_shared<CommGroup>();
  g->id = next_id_++;
  g->gpus = gpus;
  g->gpus_per_node = platform_.gpus_per_node;
  g->nvls_bytes_per_s = cost::nvls_bytes_per_s(cluster_);
  for (size_t i = 0; i < gpus.size(); ++i)
    g->inbox.push_back(
        sg4::Mailbox::by_name(cat({"g", std::to_string(g->id), ".", std::to_string(i)})));
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
  if (symmetric && (g->reps = symmetric_reps(gpus)) > 0) {
    g->copies = static_cast<int64_t>(gpus.size()) / g->reps;
    g->sym = std::make_shared<SymRing>();
    for (int i = 0; i < g->reps; ++i) {
      g->sym->posted.push_back(sg4::Semaphore::create(0));
      g->sym->done.push_back(sg4::Semaphore::create(0));
    }
    for (auto& c : g->sym->chain)
      for (int64_t j = 0; j < g->copies; ++j) c.push_back(sg4::Semaphore::create(0));
  }
  return g;
}

std::shared_ptr<CommGroup> Comms::make_group(const std::vector<int64_t>& gpus, bool symmetric) {
  auto g = make_flat(gpus, symmetric);
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
      auto sub = make_flat(ids, symmetric);
      for (size_t k = 0; k < members.size(); ++k) {
        g->intra_of[static_cast<size_t>(members[k])] = sub;
        g->intra_index[static_cast<size_t>(members[k])] = static_cast<int>(k);
        lanes[k].push_back(members[k]);
      }
    }
    for (auto& lane : lanes) {
      std::vector<int64_t> ids;
      for (int m : lane) ids.push_back(gpus[static_cast<size_t>(m)]);
      auto sub = make_flat(ids, symmetric);
      for (size_t k = 0; k < lane.size(); ++k) {
        g->inter_of[static_cast<size_t>(lane[k])] = sub;
        g->inter_index[static_cast<size_t>(lane[k])] = static_cast<int>(k);
      }
    }
  }
  return g;
}

Choice resolve(cost::Algorithm algo, cost::Collective op, double bytes, const CommGroup& g,
               const Cluster& c) {
  using cost::Algorithm;
  if (op == cost::Collective::SendRecv) return {Algorithm::Ring, cost::Protocol::Simple};
  if (algo == Algorithm::Hierarchical && g.intra_of.empty()) algo = Algorithm::Ring;
  const cost::CollectiveEstimate e = cost::collective_estimate(op, bytes, g.shape(), c, algo);
  Choice ch{e.algo, e.proto};
  if (ch.algo == Algorithm::Hierarchical && g.intra_of.empty()) ch = {Algorithm::Ring, e.proto};
  if (ch.algo == Algorithm::Auto) ch.algo = Algorithm::Ring;
  return ch;
}

namespace {

bool spans_nodes(const Comms& comms, const CommGroup& g) {
  const auto& p = comms.platform();
  for (auto x : g.gpus)
    if (p.node_of(x) != p.node_of(g.gpus[0])) return true;
  return false;
}

// Share of the link bandwidth the data gets under the choice's protocol.
double share_of(const Comms& comms, const CommGroup& g, cost::Collective op, const Choice& ch) {
  if (ch.algo == cost::Algorithm::Nvls) {
    // The switch's reduction throughput against the GPU's port as the platform has it.
    const Cluster& c = comms.cluster();
    return cost::nvls_bytes_per_s(c) /
           (c.intra.bandwidth_bytes_per_s * c.efficiency.intra_node_link);
  }
  return cost::protocol_params(ch.algo, ch.proto, op, spans_nodes(comms, g)).bandwidth_share;
}

double base_latency(cost::Collective op, const Choice& ch) {
  if (op == cost::Collective::AllToAll || op == cost::Collective::SendRecv) return 0;
  return cost::protocol_params(ch.algo, ch.proto, op, false).base_latency_s;
}

// NCCL_STEPS (src/include/device.h): a ring rank runs at most 8 steps ahead of its sends.
constexpr size_t kRingSlots = 8;

// Ring steps: send a chunk to the successor, receive one from the predecessor, `steps` times;
// a step's send waits only for the data it forwards (pipelined, as NCCL's ring), so the
// latencies on a ring's path add up hop by hop.
void ring(Comms& comms, const CommGroup& g, int me, double chunk, int steps, const Choice& ch,
          double share) {
  const int n = g.size();
  if (n < 2 || steps <= 0) return;
  const int to = (me + 1) % n;
  auto* next = g.inbox[static_cast<size_t>(to)];
  auto* mine = g.inbox[static_cast<size_t>(me)];
  const int64_t src = g.gpus[static_cast<size_t>(me)], dst = g.gpus[static_cast<size_t>(to)];
  std::deque<sg4::CommPtr> outs;
  for (int s = 0; s < steps; ++s) {
    if (outs.size() >= kRingSlots) {
      outs.front()->wait();
      outs.pop_front();
      comms.flow_ended(src, dst);
    }
    outs.push_back(comms.post(g, me, to, next, chunk, ch, share));
    mine->get<int>();
  }
  for (auto& o : outs) {
    o->wait();
    comms.flow_ended(src, dst);
  }
}

// The ring of a symmetric group (CommGroup::reps), run by its first node's members: each sends
// to its successor class ((me + 1) mod reps), and each transfer is run by its receiver, when both
// are ready (as a rendezvous message), on the real route: the last representative's chunks cross
// to the next node's first member. A step's send still waits only for the data it forwards, and
// at most NCCL_STEPS are in flight.
void ring_symmetric(Comms& comms, const CommGroup& g, int me, double chunk, int steps,
                    const Choice& ch, double share) {
  const int L = g.reps;
  const int to = (me + 1) % L, from = (me + L - 1) % L;
  auto& sym = *g.sym;
  int outstanding = 0;
  for (int s = 0; s < steps; ++s) {
    if (outstanding >= static_cast<int>(kRingSlots)) {
      sym.done[static_cast<size_t>(me)]->acquire();
      --outstanding;
    }
    sym.posted[static_cast<size_t>(to)]->release();
    ++outstanding;
    sym.posted[static_cast<size_t>(me)]->acquire();
    // My predecessor's chunk, on its real route (member from + 1 is me, or the next node's first).
    comms.transfer(g, from, from + 1, chunk, ch, share);
    sym.done[static_cast<size_t>(from)]->release();
  }
  for (; outstanding > 0; --outstanding) sym.done[static_cast<size_t>(me)]->acquire();
}

// Binomial tree broadcast from member 0.
void tree_broadcast(Comms& comms, const CommGroup& g, int me, double bytes, const Choice& ch,
                    double share) {
  const int n = g.size();
  int top = 1;
  while (top < n) top <<= 1;
  // Receive from the parent (clear my lowest set bit), then send to children below it.
  int low = me == 0 ? top : (me & -me);
  if (me != 0) g.inbox[static_cast<size_t>(me)]->get<int>();
  std::vector<sg4::CommPtr> outs;
  for (int mask = low >> 1; mask >= 1; mask >>= 1)
    if (me + mask < n)
      outs.push_back(comms.post(g, me, me + mask, g.inbox[static_cast<size_t>(me + mask)], bytes,
                                ch, share));
  for (auto& o : outs) o->wait();
}

// NVLink SHARP: each GPU sends its buffer into the switch once and reads the result once; its
// port carries the volume each way (modelled as one message to the next member).
void nvls(Comms& comms, const CommGroup& g, int me, double volume, const Choice& ch, double share) {
  const int n = g.size();
  const int to = (me + 1) % n;
  auto out = comms.post(g, me, to, g.inbox[static_cast<size_t>(to)], volume, ch, share);
  g.inbox[static_cast<size_t>(me)]->get<int>();
  out->wait();
}

// Route latency from member a to member b of g.
double peer_latency(const Comms& comms, const CommGroup& g, int a, int b) {
  return route(comms.platform(), g.gpus[static_cast<size_t>(a)], g.gpus[static_cast<size_t>(b)])
      .first;
}

// All-to-all of a symmetric group's representative: its flows as the full collective sends
// them, started at once (every receiver is ready at the same time by symmetry); the receives are
// its peers' flows, the same by symmetry.
void all_to_all_symmetric(Comms& comms, const CommGroup& g, int me, double chunk) {
  std::vector<sg4::CommPtr> outs;
  const auto& p = comms.platform();
  const int64_t src = g.gpus[static_cast<size_t>(me)];
  for (int k = 1; k < g.size(); ++k) {
    const int to = (me + k) % g.size();
    const int64_t dst = g.gpus[static_cast<size_t>(to)];
    (p.node_of(src) == p.node_of(dst) ? g.intra_node_bytes : g.inter_node_bytes) +=
        chunk * static_cast<double>(g.copies);
    ++comms.messages;
    outs.push_back(sg4::Comm::sendto_async(p.hosts[static_cast<size_t>(src)],
                                           p.hosts[static_cast<size_t>(dst)], plain_size(chunk)));
  }
  for (auto& o : outs) o->wait();
}

void all_to_all(Comms& comms, const CommGroup& g, int me, double bytes, const Choice& ch) {
  const int n = g.size();
  const double chunk = bytes / n;
  if (!ch.one_latency) {
    // NCCL's grouped send/recv pays one step latency per peer (cost::collective_time): all but
    // the longest are slept here, the flows then pay theirs.
    double sum = 0, longest = 0;
    for (int k = 1; k < n; ++k) {
      const double l = peer_latency(comms, g, me, (me + k) % n);
      sum += l;
      longest = std::max(longest, l);
    }
    if (sum - longest > 0) sg4::this_actor::sleep_for(sum - longest);
  }
  if (g.reps > 0) return all_to_all_symmetric(comms, g, me, chunk);
  std::vector<sg4::CommPtr> outs;
  for (int k = 1; k < n; ++k) {
    const int to = (me + k) % n;
    outs.push_back(comms.post(g, me, to, g.inbox[static_cast<size_t>(to)], chunk, ch, 1.0));
  }
  // Every receive posted at once: the n - 1 incoming flows run concurrently (a blocking get
  // per peer would let only one in at a time and serialise the NIC and NVLink parts).
  std::vector<int*> got(static_cast<size_t>(n - 1), nullptr);
  for (int k = 1; k < n; ++k)
    outs.push_back(g.inbox[static_cast<size_t>(me)]->get_async<int>(&got[size_t(k - 1)]));
  for (auto& o : outs) o->wait();
}

}  // namespace

void run_collective(Comms& comms, const CommGroup& g, int me, cost::Collective op, double bytes,
                    const Choice& choice) {
  using cost::Algorithm;
  using cost::Collective;
  const int n = g.size();
  if (n < 2 || !(bytes > 0)) return;
  // Symmetric group: the other nodes' members do what the first node's do, at the same times
  // (not NCCL's tree, whose nodes differ: every member runs it).
  const bool tree = choice.algo == Algorithm::Tree && op == Collective::AllReduce;
  const bool alike = op == Collective::AllReduce || op == Collective::AllGather ||
                     op == Collective::ReduceScatter || op == Collective::AllToAll;
  if (g.reps > 0 && me >= g.reps && alike && !tree) return;
  if (choice.algo == Algorithm::Hierarchical && !g.intra_of.empty() &&
      (op == Collective::AllReduce || op == Collective::AllGather ||
       op == Collective::ReduceScatter)) {
    const auto& intra = *g.intra_of[static_cast<size_t>(me)];
    const auto& inter = *g.inter_of[static_cast<size_t>(me)];
    const int ii = g.intra_index[static_cast<size_t>(me)];
    const int ie = g.inter_index[static_cast<size_t>(me)];
    const double L = static_cast<double>(intra.size());
    const Cluster& c = comms.cluster();
    // Intra-node reduce-scatter, inter-node collective on 1/L of the data, intra-node
    // all-gather; each phase a ring with the protocol the cost model picks for it.
    auto phase = [&](const CommGroup& sub, int idx, Collective o, double b) {
      run_collective(comms, sub, idx, o, b, resolve(Algorithm::Ring, o, b, sub, c));
    };
    if (op != Collective::AllGather) phase(intra, ii, Collective::ReduceScatter, bytes);
    phase(inter, ie, op, bytes / L);
    if (op != Collective::ReduceScatter) phase(intra, ii, Collective::AllGather, bytes);
    return;
  }
  if (op == Collective::AllToAll) return all_to_all(comms, g, me, bytes, choice);
  if (op == Collective::SendRecv) {
    if (me == 0) comms.post(g, 0, 1, g.inbox[1], bytes, choice, 1.0)->wait();
    if (me == 1) g.inbox[1]->get<int>();
    return;
  }
  const double share = share_of(comms, g, op, choice);
  const double base = choice.p2p ? 0.0 : base_latency(op, choice);
  if (base > 0) sg4::this_actor::sleep_for(base);
  const double chunk = bytes / n;
  if (choice.algo == Algorithm::Nvls &&
      (op == Collective::AllReduce || op == Collective::AllGather ||
       op == Collective::ReduceScatter)) {
    const double volume = op == Collective::AllReduce ? bytes : bytes * (n - 1) / n;
    // Symmetric group: the representative's message to its successor, on the real route.
    if (g.reps > 0) return comms.transfer(g, me, me + 1, volume, choice, share);
    return nvls(comms, g, me, volume, choice, share);
  }
  switch (op) {
    case Collective::AllReduce:
      if (choice.algo == Algorithm::Tree) return tree_allreduce(comms, g, me, bytes, choice, share);
      if (g.reps > 0) return ring_symmetric(comms, g, me, chunk, 2 * (n - 1), choice, share);
      return ring(comms, g, me, chunk, 2 * (n - 1), choice, share);
    case Collective::AllGather:
    case Collective::ReduceScatter:
      if (g.reps > 0) return ring_symmetric(comms, g, me, chunk, n - 1, choice, share);
      return ring(comms, g, me, chunk, n - 1, choice, share);
    case Collective::Broadcast:
      return tree_broadcast(comms, g, me, bytes, choice, share);
    default:
      return;
  }
}

namespace {
// Per-step latency of a hop of g under the choice's protocol (ring neighbours' worst route).
double step_latency(const CommGroup& g, const Choice& ch, bool inter) {
  const auto pp = cost::protocol_params(ch.algo, ch.proto, cost::Collective::AllReduce, false);
  return g.ring_latency_s * (inter ? pp.inter_step : pp.intra_step);
}
bool group_spans(const CommGroup& g) {
  return !g.intra_of.empty() || g.per_node < g.size();
}
}  // namespace

double latency_s(cost::Collective op, const Choice& ch, const CommGroup& g) {
  using cost::Algorithm;
  using cost::Collective;
  const int n = g.size();
  if (n < 2) return 0;
  if (ch.algo == Algorithm::Hierarchical && !g.intra_of.empty()) {
    const auto& intra = *g.intra_of[0];
    const auto& inter = *g.inter_of[0];
    const Choice ring{Algorithm::Ring, cost::Protocol::Simple};
    double t = latency_s(op, ring, inter);
    if (op != Collective::AllGather) t += latency_s(Collective::ReduceScatter, ring, intra);
    if (op != Collective::ReduceScatter) t += latency_s(Collective::AllGather, ring, intra);
    return t;
  }
  const double a = step_latency(g, ch, group_spans(g)), base = base_latency(op, ch);
  const double depth = std::ceil(std::log2(static_cast<double>(n)));
  switch (op) {
    case Collective::AllReduce:
      if (ch.algo == Algorithm::Nvls) return base + a;
      if (ch.algo == Algorithm::Tree) {
        // Chain inside each node, binary trees over the nodes, up and down (cost::tree).
        const double L = static_cast<double>(std::max<int64_t>(1, g.per_node));
        const double hops = (L - 1) + std::ceil(std::log2(std::max(1.0, n / L)));
        return base + 2 * hops * a;
      }
      return base + 2.0 * (n - 1) * a;
    case Collective::AllGather:
    case Collective::ReduceScatter:
      return base + (ch.algo == Algorithm::Nvls ? a : (n - 1) * a);
    case Collective::Broadcast:
      return base + depth * a;
    case Collective::AllToAll:
      return ch.one_latency ? g.ring_latency_s : (n - 1) * g.ring_latency_s;
    case Collective::SendRecv:
      return g.ring_latency_s;
  }
  return 0;
}

double exclusive_time(cost::Collective op, const Choice& ch, double bytes, const CommGroup& g) {
  using cost::Algorithm;
  using cost::Collective;
  const int n = g.size();
  if (n < 2 || !(bytes > 0)) return 0;
  if (ch.algo == Algorithm::Hierarchical && !g.intra_of.empty() &&
      (op == Collective::AllReduce || op == Collective::AllGather ||
       op == Collective::ReduceScatter)) {
    const auto& intra = *g.intra_of[0];
    const auto& inter = *g.inter_of[0];
    const double L = static_cast<double>(intra.size());
    const Choice ring{Algorithm::Ring, cost::Protocol::Simple};
    double t = exclusive_time(op, ring, bytes / L, inter);
    if (op != Collective::AllGather)
      t += exclusive_time(Collective::ReduceScatter, ring, bytes, intra);
    if (op != Collective::ReduceScatter)
      t += exclusive_time(Collective::AllGather, ring, bytes, intra);
    return t;
  }
  const double share =
      ch.algo == Algorithm::Nvls
          ? 1.0
          : cost::protocol_params(ch.algo, ch.proto, op, group_spans(g)).bandwidth_share;
  const double B = g.ring_bandwidth * share;
  const double lat = latency_s(op, ch, g);
  switch (op) {
    case Collective::AllReduce:
      if (ch.algo == Algorithm::Tree) return lat + 2 * bytes / B;
      if (ch.algo == Algorithm::Nvls) return lat + bytes / (g.nvls_bytes_per_s);
      return lat + 2.0 * (n - 1) * bytes / n / B;
    case Collective::AllGather:
    case Collective::ReduceScatter:
      if (ch.algo == Algorithm::Nvls) return lat + (n - 1) * bytes / n / g.nvls_bytes_per_s;
      return lat + (n - 1) * bytes / n / B;
    case Collective::Broadcast:
      return lat + std::ceil(std::log2(static_cast<double>(n))) * bytes / B;
    case Collective::AllToAll:
      return lat + (n - 1) * bytes / n / g.ring_bandwidth;
    case Collective::SendRecv:
      return lat + bytes / g.ring_bandwidth;
  }
  return 0;
}

}  // namespace parplan::sim::detail
