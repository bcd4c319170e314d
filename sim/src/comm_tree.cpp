// NCCL's tree all-reduce as flows (internal to sim/, see comm.hpp).
#include <algorithm>
#include <cmath>
#include <map>
#include <simgrid/s4u/Actor.hpp>
#include <simgrid/s4u/Comm.hpp>
#include <simgrid/s4u/Engine.hpp>
#include <simgrid/s4u/Semaphore.hpp>
#include <string>
#include <vector>

#include "comm.hpp"
#include "names.hpp"

namespace sg4 = simgrid::s4u;

namespace parplan::sim::detail {

namespace {

// NCCL's tree all-reduce (src/graph/trees.cc, connect.cc): a chain through the GPUs of each
// node, its head linked into two binary trees over the nodes (the second mirrored, so most
// inner nodes of one are leaves of the other), each tree reducing up then broadcasting down
// half of the data, cut into pieces that flow through without waiting for the whole buffer.
struct TreeShape {
  int parent[2] = {-1, -1};
  std::vector<int> children[2];
  int depth = 1;  // hops from the farthest member to the root (chain + tree)
};
TreeShape tree_shape(const Comms& comms, const CommGroup& g, int me) {
  const auto& p = comms.platform();
  std::vector<std::vector<int>> nodes;  // members by node, in group order
  std::map<int64_t, size_t> index;
  for (int i = 0; i < g.size(); ++i) {
    const int64_t nd = p.node_of(g.gpus[static_cast<size_t>(i)]);
    auto [it, fresh] = index.try_emplace(nd, nodes.size());
    if (fresh) nodes.emplace_back();
    nodes[it->second].push_back(i);
  }
  const int N = static_cast<int>(nodes.size());
  const auto& mine = nodes[index[p.node_of(g.gpus[static_cast<size_t>(me)])]];
  const int node = static_cast<int>(index[p.node_of(g.gpus[static_cast<size_t>(me)])]);
  const int local = static_cast<int>(std::find(mine.begin(), mine.end(), me) - mine.begin());
  TreeShape s;
  size_t longest = 1;
  for (auto& m : nodes) longest = std::max(longest, m.size());
  s.depth = static_cast<int>(longest) - 1 +
            static_cast<int>(std::ceil(std::log2(static_cast<double>(std::max(1, N)))));
  for (int t = 0; t < 2; ++t) {
    if (local + 1 < static_cast<int>(mine.size()))
      s.children[t].push_back(mine[static_cast<size_t>(local + 1)]);
    if (local > 0) {
      s.parent[t] = mine[static_cast<size_t>(local - 1)];
      continue;
    }
    auto at = [&](int pos) { return t == 0 ? pos : N - 1 - pos; };  // node at tree position
    const int pos = t == 0 ? node : N - 1 - node;
    if (pos > 0) s.parent[t] = nodes[static_cast<size_t>(at((pos - 1) / 2))][0];
    for (int c : {2 * pos + 1, 2 * pos + 2})
      if (c < N) s.children[t].push_back(nodes[static_cast<size_t>(at(c))][0]);
  }
  return s;
}

// Pieces each tree's half of the buffer is cut into: enough that the pipeline's fill (one
// piece per hop) stays near 1/40 of the transfer (NCCL's LL/LL128 forward 8-byte / 128-byte
// lines as they arrive, so the real pipeline is finer still).
int tree_pieces_for(int depth) {
  return std::clamp(10 * depth, 1, 256);
}

}  // namespace

void tree_allreduce(Comms& comms, const CommGroup& g, int me, double bytes, const Choice& ch,
                    double share) {
  // Symmetric group (comm.hpp): every node's chain is the same, so node 0's chain runs and the
  // other nodes' heads take their chain's pieces when node 0's head gets them; the trees over the
  // heads run in full (their inner nodes and leaves differ).
  const int L = g.reps;
  const bool sym = L > 1;
  if (sym && me >= L && me % L != 0) return;
  const bool sym_head = sym && me % L == 0;
  const size_t node = sym ? static_cast<size_t>(me / L) : 0;
  const TreeShape s = tree_shape(comms, g, me);
  const int K = tree_pieces_for(s.depth);
  const double piece = bytes / 2 / K;
  const std::string id = std::to_string(g.id);
  // Mailbox of member m for tree t, direction d (0 up, 1 down), from child slot k.
  auto box = [&id](int m, int t, int d, int k) {
    return sg4::Mailbox::by_name(cat({"t", id, ".", std::to_string(m), t ? "b" : "a",
                                      d ? "d" : "u", std::to_string(k)}));
  };
  // A sender feeds a link one piece after another (as a GPU writes its FIFO), not all pieces at
  // once: piece k + 1 leaves when piece k has had the time to cross the sender's link.
  auto pace = [&](int to) {
    return piece / share /
           route(comms.platform(), g.gpus[static_cast<size_t>(me)], g.gpus[static_cast<size_t>(to)])
               .second;
  };
  std::vector<sg4::SemaphorePtr> reduced = {sg4::Semaphore::create(0), sg4::Semaphore::create(0)};
  auto up = [&, me](int t) {
    const auto& kids = s.children[t];
    // kids[0] is the chain child when the node has one (tree_shape); for a symmetric head its
    // pieces come through sym->chain[t][node] (node 0's relay below), not through a mailbox.
    const size_t chained = sym_head && !kids.empty() && kids[0] == me + 1 ? 1 : 0;
    std::vector<sg4::ActorPtr> relay;
    if (chained && node == 0) {
      auto* chain_box = box(me, t, 0, 0);
      relay.push_back(sg4::Actor::create("chain", sg4::this_actor::get_host(), [&g, chain_box, K, t] {
        // Every receive posted up front (as the head's own), then taken in order.
        std::vector<sg4::CommPtr> gets;
        std::vector<int*> got(static_cast<size_t>(K), nullptr);
        for (int k = 0; k < K; ++k) gets.push_back(chain_box->get_async<int>(&got[size_t(k)]));
        for (int k = 0; k < K; ++k) {
          gets[static_cast<size_t>(k)]->wait();
          for (auto& c : g.sym->chain[t]) c->release();
        }
      }));
    }
    std::vector<sg4::Mailbox*> in;
    for (size_t k = chained; k < kids.size(); ++k) in.push_back(box(me, t, 0, static_cast<int>(k)));
    sg4::Mailbox* out = nullptr;
    if (s.parent[t] >= 0) {
      const auto& pk = tree_shape(comms, g, s.parent[t]).children[t];
      const int slot = static_cast<int>(std::find(pk.begin(), pk.end(), me) - pk.begin());
      out = box(s.parent[t], t, 0, slot);
    }
    // Every piece's receive posted up front, so a piece starts moving when its sender posts it.
    std::vector<std::vector<sg4::CommPtr>> gets(in.size());
    std::vector<int*> got(in.size() * static_cast<size_t>(K), nullptr);
    for (size_t c = 0; c < in.size(); ++c)
      for (int k = 0; k < K; ++k)
        gets[c].push_back(in[c]->get_async<int>(&got[c * static_cast<size_t>(K) + size_t(k)]));
    std::vector<sg4::CommPtr> outs;
    const double gap = s.parent[t] >= 0 ? pace(s.parent[t]) : 0;
    double last = -1;
    for (int k = 0; k < K; ++k) {
      if (chained) g.sym->chain[t][node]->acquire();
      for (auto& gc : gets) gc[static_cast<size_t>(k)]->wait();
      if (last >= 0 && sg4::Engine::get_clock() < last + gap) sg4::this_actor::sleep_until(last + gap);
      last = sg4::Engine::get_clock();
      if (out) outs.push_back(comms.post(g, me, s.parent[t], out, piece, ch, share));
      else reduced[static_cast<size_t>(t)]->release();
    }
    for (auto& o : outs) o->wait();
    for (auto& a : relay) a->join();
  };
  auto down = [&, me](int t) {
    // A symmetric head of another node leaves its chain to node 0's (the same flows, on its own
    // node's links).
    std::vector<int> kids = s.children[t];
    if (sym_head && node > 0 && !kids.empty() && kids[0] == me + 1) kids.erase(kids.begin());
    std::vector<sg4::Mailbox*> out;
    for (int c : kids) out.push_back(box(c, t, 1, 0));
    auto* in = box(me, t, 1, 0);
    std::vector<sg4::CommPtr> gets;
    std::vector<int*> got(static_cast<size_t>(K), nullptr);
    if (s.parent[t] >= 0)
      for (int k = 0; k < K; ++k) gets.push_back(in->get_async<int>(&got[size_t(k)]));
    std::vector<sg4::CommPtr> outs;
    double gap = 0, last = -1;
    for (int c : s.children[t]) gap += pace(c);  // the chain kid's piece too (symmetric heads)
    for (int k = 0; k < K; ++k) {
      if (s.parent[t] >= 0) gets[static_cast<size_t>(k)]->wait();
      else reduced[static_cast<size_t>(t)]->acquire();
      if (last >= 0 && sg4::Engine::get_clock() < last + gap) sg4::this_actor::sleep_until(last + gap);
      last = sg4::Engine::get_clock();
      for (size_t c = 0; c < kids.size(); ++c)
        outs.push_back(comms.post(g, me, kids[c], out[c], piece, ch, share));
    }
    for (auto& o : outs) o->wait();
  };
  // Each tree and direction runs in its own actor (NCCL runs the trees on separate channels and
  // a piece goes down as soon as it is reduced).
  auto* host = sg4::this_actor::get_host();
  std::vector<sg4::ActorPtr> helpers;
  helpers.push_back(sg4::Actor::create("tree", host, [&up] { up(1); }));
  helpers.push_back(sg4::Actor::create("tree", host, [&down] { down(0); }));
  helpers.push_back(sg4::Actor::create("tree", host, [&down] { down(1); }));
  up(0);
  for (auto& h : helpers) h->join();
}


}  // namespace parplan::sim::detail
