#pragma once
// The SimGrid platform of a cluster: one host per GPU, the intra-node fabric (NVSwitch / NVLink /
// PCIe star with per-GPU links), one split-duplex link per NIC, and the inter-node topology
// (fat-tree, dragonfly, torus, or a full-bisection star). Link bandwidths are the nominal ones
// times cluster.efficiency, as in cost/ (link_rates), so an uncontended flow runs at the rate the
// analytical model assumes. Latencies are end to end: a message pays intra_node.latency_us inside a
// node and inter_node.latency_us + intra_node.latency_us between nodes (as cost::link_rates),
// whatever the number of hops.
#include <cstdint>
#include <simgrid/s4u/Engine.hpp>
#include <simgrid/s4u/Host.hpp>
#include <simgrid/s4u/Link.hpp>
#include <string>
#include <vector>

#include "parplan/model/cluster.hpp"

namespace parplan::sim {

// SimGrid network model: a pure bandwidth/latency max-min model (CM02 without TCP corrections,
// the default) or SimGrid's calibrated TCP model (LV08 with its latency and bandwidth factors).
enum class NetworkModel { Cm02, Tcp };
const char* to_string(NetworkModel m);
bool parse_network_model(const std::string& s, NetworkModel& out);

// Sets the network model through Engine::set_config. Call after creating the Engine and before
// building the platform.
void configure_network(NetworkModel m);

// Which physical resource a link models; reported with link utilisations.
enum class LinkClass { Intra, Nic, Fabric };
const char* to_string(LinkClass c);

struct PlatformLink {
  simgrid::s4u::Link* link = nullptr;  // one direction of a split-duplex link
  LinkClass cls = LinkClass::Intra;
};

struct Platform {
  int64_t gpus = 0;   // hosts created (the plan's GPUs)
  int64_t nodes = 0;  // NVLink domains (nodes on HGX) those GPUs occupy
  int64_t gpus_per_node = 0;  // GPUs per NVLink domain (cluster.domain_gpus())
  std::vector<simgrid::s4u::Host*> hosts;  // GPU g is hosts[g], on node g / gpus_per_node
  std::vector<PlatformLink> links;         // every link the platform created, with its class
  std::string topology;                    // "single-node", "fat-tree(...)", ...

  int64_t node_of(int64_t gpu) const { return gpu / gpus_per_node; }
};

// Throws parplan::Error for a cluster the simulator cannot build: zero bandwidth or efficiency,
// more GPUs than the cluster has, or a topology shape that does not fit the node count.
void check_cluster(const Cluster& c, int64_t gpus);

// Builds the platform for the first `gpus` GPUs of the cluster (whole nodes) in the current
// engine. Host names: "gpu<g>"; link names: "n<node>-nvl<i>" (intra), "n<node>-nic<k>", and
// SimGrid's names inside the inter-node zone (class Fabric).
Platform build_platform(const Cluster& c, int64_t gpus);

}  // namespace parplan::sim
