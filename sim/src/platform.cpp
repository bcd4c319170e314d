#include "parplan/sim/platform.hpp"

#include <algorithm>
#include <cmath>
#include <simgrid/s4u/NetZone.hpp>
#include <string>

#include "names.hpp"
#include "parplan/model/error.hpp"

namespace sg4 = simgrid::s4u;
using simgrid::kernel::routing::NetPoint;

namespace parplan::sim {

const char* to_string(NetworkModel m) {
  return m == NetworkModel::Cm02 ? "cm02" : "tcp";
}

bool parse_network_model(const std::string& s, NetworkModel& out) {
  if (s == "cm02")
    out = NetworkModel::Cm02;
  else if (s == "tcp")
    out = NetworkModel::Tcp;
  else
    return false;
  return true;
}

const char* to_string(LinkClass c) {
  switch (c) {
    case LinkClass::Intra:
      return "intra";
    case LinkClass::Nic:
      return "nic";
    case LinkClass::Fabric:
      return "fabric";
  }
  return "?";
}

void configure_network(NetworkModel m) {
  if (m == NetworkModel::Cm02) {
    // Pure max-min sharing of bandwidth plus latency: what the alpha-beta formulas assume.
    sg4::Engine::set_config("network/model:CM02");
    sg4::Engine::set_config("network/TCP-gamma:0");
    // network/latency-factor stays at its default (1): the latency-factor callback
    // (comm.hpp: install_protocol_latencies) gives each message its protocol's latency.
    sg4::Engine::set_config("network/bandwidth-factor:1");
    sg4::Engine::set_config("network/crosstraffic:0");
  } else {
    // SimGrid's calibrated TCP model (Velho et al. 2013) with its default factors.
    sg4::Engine::set_config("network/model:LV08");
  }
}

namespace {

// The simulator's "node" zone is the NVLink domain (the node on HGX; the 72-GPU rack, 18 trays
// of 4 with their NICs, on NVL72): GPUs inside it reach each other over NVLink, the rest over NICs.
int64_t nodes_for(const Cluster& c, int64_t gpus) {
  return (gpus + c.domain_gpus() - 1) / c.domain_gpus();
}
// NICs of one NVLink domain: every tray's.
int64_t nics_per_domain(const Cluster& c) {
  return c.inter.nics_per_node * std::max<int64_t>(1, c.domain_gpus() / c.gpus_per_node);
}

// Largest divisor of n that is <= limit.
int64_t divisor_at_most(int64_t n, int64_t limit) {
  for (int64_t d = std::min(n, limit); d > 1; --d)
    if (n % d == 0) return d;
  return 1;
}

constexpr int64_t kSwitchRadix = 32;  // leaves per edge switch of the derived fat-tree

std::vector<unsigned long> torus_dims(const Cluster& c, int64_t nodes) {
  if (c.inter.torus_dims[0] > 0)
    return {static_cast<unsigned long>(c.inter.torus_dims[0]),
            static_cast<unsigned long>(c.inter.torus_dims[1]),
            static_cast<unsigned long>(c.inter.torus_dims[2])};
  // Derived: the most cube-like factorisation of the node count.
  int64_t a =
      std::max<int64_t>(1, static_cast<int64_t>(std::cbrt(static_cast<double>(nodes)) + 1e-9));
  while (nodes % a) --a;
  int64_t rest = nodes / a;
  int64_t b =
      std::max<int64_t>(1, static_cast<int64_t>(std::sqrt(static_cast<double>(rest)) + 1e-9));
  while (rest % b) --b;
  return {static_cast<unsigned long>(rest / b), static_cast<unsigned long>(b),
          static_cast<unsigned long>(a)};
}

int64_t dragonfly_groups(const Cluster& c, int64_t nodes) {
  if (c.inter.dragonfly_groups > 0) return c.inter.dragonfly_groups;
  return divisor_at_most(nodes,
                         std::max<int64_t>(1, static_cast<int64_t>(std::sqrt(double(nodes)))));
}

struct Builder {
  const Cluster& c;
  Platform& p;

  // One node: a full zone holding its GPUs, one split-duplex link per GPU into the intra-node
  // switch, one per NIC, and a gateway router that stands for the node's NIC side.
  std::pair<NetPoint*, NetPoint*> node(sg4::NetZone* parent, int64_t n) {
    const std::string name = "node" + std::to_string(n);
    auto* z = sg4::create_full_zone(name);
    if (parent) z->set_parent(parent);
    const int64_t g = c.domain_gpus();
    const int64_t nics = nics_per_domain(c);
    const double intra_bw = c.intra.bandwidth_bytes_per_s * c.efficiency.intra_node_link;
    const double nic_bw = c.inter.nic_bytes_per_s * c.efficiency.inter_node_link;
    std::vector<sg4::Host*> hosts;
    std::vector<sg4::Link*> up, down, nic_up, nic_down;
    const double speed = std::max(1e9, c.gpu.peak_flops_bf16 + c.gpu.peak_flops_fp16 +
                                           c.gpu.peak_flops_tf32 + c.gpu.peak_flops_fp32);
    for (int64_t i = 0; i < g; ++i) {
      const int64_t gpu = n * g + i;
      auto* h = z->create_host("gpu" + std::to_string(gpu), speed);
      hosts.push_back(h);
      p.hosts[static_cast<size_t>(gpu)] = h;
      auto* l = z->create_split_duplex_link(
          detail::cat({"n", std::to_string(n), "-nvl", std::to_string(i)}), intra_bw);
      l->set_latency(c.intra.latency_s / 2)->seal();
      up.push_back(l->get_link_up());
      down.push_back(l->get_link_down());
      p.links.push_back({l->get_link_up(), LinkClass::Intra});
      p.links.push_back({l->get_link_down(), LinkClass::Intra});
    }
    NetPoint* gw = nullptr;
    const bool multi = p.nodes > 1;
    if (multi) {
      gw = z->create_router(name + "-gw");
      for (int64_t k = 0; k < nics; ++k) {
        auto* l = z->create_split_duplex_link(
            detail::cat({"n", std::to_string(n), "-nic", std::to_string(k)}), nic_bw);
        // cost::link_rates: an inter-node message pays inter + intra latency, end to end.
        l->set_latency((c.inter.latency_s + c.intra.latency_s) / 2)->seal();
        nic_up.push_back(l->get_link_up());
        nic_down.push_back(l->get_link_down());
        p.links.push_back({l->get_link_up(), LinkClass::Nic});
        p.links.push_back({l->get_link_down(), LinkClass::Nic});
      }
    }
    using D = sg4::LinkInRoute::Direction;
    // PCIe (and shared memory): NIC traffic crosses the GPU's own link too; NVSwitch/NVLink GPUs
    // reach their NIC over a separate PCIe path (GPUDirect RDMA).
    const bool shared_path = c.intra.kind == IntraKind::Pcie || c.intra.kind == IntraKind::Shm;
    for (int64_t i = 0; i < g; ++i) {
      for (int64_t j = 0; j < g; ++j) {
        if (i == j) continue;
        z->add_route(hosts[i]->get_netpoint(), hosts[j]->get_netpoint(), nullptr, nullptr,
                     {sg4::LinkInRoute(up[i], D::NONE), sg4::LinkInRoute(down[j], D::NONE)}, false);
      }
      if (multi) {
        // GPU i uses NIC i mod nics (rail-optimised wiring).
        const size_t k = static_cast<size_t>(i % nics);
        std::vector<sg4::LinkInRoute> out, in;
        if (shared_path) out.emplace_back(up[i], D::NONE);
        out.emplace_back(nic_up[k], D::NONE);
        in.emplace_back(nic_down[k], D::NONE);
        if (shared_path) in.emplace_back(down[i], D::NONE);
        z->add_route(hosts[i]->get_netpoint(), gw, nullptr, nullptr, out, false);
        z->add_route(gw, hosts[i]->get_netpoint(), nullptr, nullptr, in, false);
      }
    }
    z->seal();
    return {z->get_netpoint(), gw};
  }
};

void check_positive(double v, const std::string& field) {
  if (!(v > 0) || !std::isfinite(v))
    throw Error("cannot simulate: " + field + " must be > 0 (got " + std::to_string(v) + ")");
}

}  // namespace

void check_cluster(const Cluster& c, int64_t gpus) {
  if (c.gpus_per_node < 1 || c.nodes < 1)
    throw Error("cannot simulate: cluster.nodes and cluster.gpus_per_node must be >= 1");
  if (gpus < 1) throw Error("cannot simulate: the plan uses no GPU");
  if (gpus > c.total_gpus())
    throw Error("cannot simulate: the plan needs " + std::to_string(gpus) + " GPUs but cluster '" +
                c.name + "' has " + std::to_string(c.total_gpus()) + " (" +
                std::to_string(c.nodes) + " nodes x " + std::to_string(c.gpus_per_node) + ")");
  if (gpus > c.placeable_gpus())
    throw Error("cannot simulate: the plan needs " + std::to_string(gpus) + " GPUs but cluster '" +
                c.name + "' places jobs on " + std::to_string(c.domain_gpus()) + " GPUs of each " +
                std::to_string(c.nvlink_domain()) + "-GPU NVLink domain (" +
                std::to_string(c.placeable_gpus()) +
                " GPUs; cluster.nvlink_domain_segment_gpus): use fewer GPUs, more nodes, or "
                "nvlink_domain_segment_gpus 0 to fill whole domains");
  check_positive(c.intra.bandwidth_bytes_per_s, "cluster.intra_node.bandwidth_GBps");
  check_positive(c.efficiency.intra_node_link, "cluster.efficiency.intra_node_link");
  const int64_t nodes = nodes_for(c, gpus);
  if (nodes <= 1) return;
  check_positive(c.inter.nic_bytes_per_s, "cluster.inter_node.nic_GBps");
  check_positive(c.efficiency.inter_node_link, "cluster.efficiency.inter_node_link");
  if (c.inter.nics_per_node < 1)
    throw Error("cannot simulate: cluster.inter_node.nics_per_node must be >= 1");
  switch (c.inter.topology) {
    case Topology::Torus: {
      auto d = torus_dims(c, nodes);
      const int64_t slots = static_cast<int64_t>(d[0] * d[1] * d[2]);
      if (slots < nodes)
        throw Error("cannot simulate: cluster.inter_node.torus_dims [" + std::to_string(d[0]) +
                    ", " + std::to_string(d[1]) + ", " + std::to_string(d[2]) + "] hold " +
                    std::to_string(slots) + " nodes but the plan needs " + std::to_string(nodes));
      break;
    }
    case Topology::Dragonfly: {
      const int64_t groups = dragonfly_groups(c, nodes);
      if (nodes % groups != 0)
        throw Error("cannot simulate: cluster.inter_node.dragonfly_groups = " +
                    std::to_string(groups) + " does not divide the " + std::to_string(nodes) +
                    " nodes the plan uses; give a group count that divides it");
      break;
    }
    case Topology::FatTree:
      if (c.inter.fat_tree_levels > 2)
        throw Error("cannot simulate: cluster.inter_node.fat_tree_levels = " +
                    std::to_string(c.inter.fat_tree_levels) + " is not supported (use 1 or 2)");
      break;
    case Topology::Star:
      break;
  }
}

Platform build_platform(const Cluster& c, int64_t gpus) {
  check_cluster(c, gpus);
  Platform p;
  p.gpus_per_node = c.domain_gpus();  // GPUs per NVLink-domain zone
  p.nodes = nodes_for(c, gpus);
  p.gpus = p.nodes * p.gpus_per_node;
  p.hosts.resize(static_cast<size_t>(p.gpus));
  Builder b{c, p};
  if (p.nodes == 1) {
    b.node(nullptr, 0);
    p.topology = "single-node";
    return p;
  }
  const int64_t nodes = p.nodes;
  // Fabric links carry a whole node's injection bandwidth, so the fabric limits flows only where
  // the topology (oversubscription, routing) makes several nodes share a link.
  const double node_bw = c.inter.nic_bytes_per_s * c.efficiency.inter_node_link *
                         static_cast<double>(nics_per_domain(c));
  sg4::ClusterCallbacks cb([&b, nodes](sg4::NetZone* zone, const std::vector<unsigned long>&,
                                       unsigned long id) -> std::pair<NetPoint*, NetPoint*> {
    if (static_cast<int64_t>(id) >= nodes)
      return {zone->create_router("unused" + std::to_string(id)), nullptr};
    return b.node(zone, static_cast<int64_t>(id));
  });
  sg4::NetZone* net = nullptr;
  const auto policy = sg4::Link::SharingPolicy::SPLITDUPLEX;
  switch (c.inter.topology) {
    case Topology::Star:
    case Topology::FatTree: {
      const bool star = c.inter.topology == Topology::Star;
      if (star || c.inter.fat_tree_levels == 1 || nodes <= kSwitchRadix) {
        net = sg4::create_fatTree_zone("net", nullptr,
                                       sg4::FatTreeParams(1, {unsigned(nodes)}, {1}, {1}), cb,
                                       node_bw, 0.0, policy);
        p.topology = std::string(star ? "star" : "fat-tree") + "(1 switch, " +
                     std::to_string(nodes) + " nodes)";
      } else {
        const int64_t leaves = divisor_at_most(nodes, kSwitchRadix);
        const int64_t edges = nodes / leaves;
        const int64_t spines = std::max<int64_t>(1, leaves / c.inter.fat_tree_oversubscription);
        net = sg4::create_fatTree_zone("net", nullptr,
                                       sg4::FatTreeParams(2, {unsigned(leaves), unsigned(edges)},
                                                          {1, unsigned(spines)}, {1, 1}),
                                       cb, node_bw, 0.0, policy);
        p.topology = "fat-tree(2 levels, " + std::to_string(edges) + " edge switches x " +
                     std::to_string(leaves) + " nodes, " + std::to_string(spines) + " spines)";
      }
      break;
    }
    case Topology::Dragonfly: {
      const int64_t groups = dragonfly_groups(c, nodes);
      const int64_t per_group = nodes / groups;
      net = sg4::create_dragonfly_zone(
          "net", nullptr,
          sg4::DragonflyParams({unsigned(groups), 1}, {1, 1}, {unsigned(per_group), 1}, 1), cb,
          node_bw, 0.0, policy);
      p.topology = "dragonfly(" + std::to_string(groups) + " groups x " +
                   std::to_string(per_group) + " routers, 1 node each)";
      break;
    }
    case Topology::Torus: {
      auto d = torus_dims(c, nodes);
      // SimGrid wires a ring per dimension; a dimension of size 1 would link a node to itself.
      std::vector<unsigned long> rings;
      for (auto x : d)
        if (x > 1) rings.push_back(x);
      net = sg4::create_torus_zone("net", nullptr, rings, cb, node_bw, 0.0, policy);
      p.topology = "torus(" + std::to_string(d[0]) + "x" + std::to_string(d[1]) + "x" +
                   std::to_string(d[2]) + ")";
      break;
    }
  }
  net->seal();
  // Links SimGrid created for the topology itself.
  std::vector<sg4::Link*> all = sg4::Engine::get_instance()->get_all_links();
  std::sort(all.begin(), all.end());
  std::vector<sg4::Link*> known;
  for (auto& l : p.links) known.push_back(l.link);
  std::sort(known.begin(), known.end());
  for (auto* l : all)
    if (!std::binary_search(known.begin(), known.end(), l))
      p.links.push_back({l, LinkClass::Fabric});
  return p;
}

}  // namespace parplan::sim
