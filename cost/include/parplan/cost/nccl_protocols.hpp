#pragma once
// NCCL's per-algorithm, per-protocol latency and bandwidth parameters (NVIDIA/nccl
// src/graph/tuning.cc), in one place: the analytical model (collectives.cpp) prices collectives
// with them and the SimGrid simulation (sim/src/comm.cpp) runs its flows with them.
#include <cstdint>

#include "parplan/cost/collectives.hpp"

namespace parplan::cost {

// One algorithm and protocol: time = base + steps x step latency x factor + bytes / (bw x share),
// where the step latency is the cluster's per-step (Simple) latency of the hop's link class.
struct ProtocolParams {
  double base_latency_s = 0;   // once per collective (kernel launch, setup)
  double intra_step = 1;       // x the intra-node per-step latency
  double inter_step = 1;       // x the inter-node per-step latency
  double bandwidth_share = 1;  // share of the link bandwidth (after efficiency) the data gets
};
// algo: Ring or Tree; Nvls gets its base latency and a share of the *nominal* NVLink bandwidth
// (nvls_bytes_per_s). `multi_node`: the collective crosses nodes.
ProtocolParams protocol_params(Algorithm algo, Protocol p, Collective op, bool multi_node);
// LL128 is enabled by default only inside NVLink nodes (tuning.cc: typeInter <= PATH_PXB).
bool protocol_enabled(Protocol p, bool nvlink, bool multi_node);
// NVLink SHARP bandwidth per GPU and direction (the switch's reduction throughput).
double nvls_bytes_per_s(const Cluster& c);

// A group running alone, as nccl-tests measures it: consecutive GPUs, every member on a node
// sending through the node's NICs at once.
Group lone_group(int64_t gpus, const Cluster& c);

}  // namespace parplan::cost
