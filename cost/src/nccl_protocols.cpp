#include "parplan/cost/nccl_protocols.hpp"

#include <algorithm>

namespace parplan::cost {

namespace {
// NCCL's tuning model (NVIDIA/nccl src/graph/tuning.cc, 2.18: baseLat, hwLat; 2.8 for the
// network row): time = base latency + steps x per-step latency + bytes / bandwidth, for each
// algorithm and protocol, the fastest taken. The cluster's link latencies are the Simple
// protocol's per-step latencies; LL and LL128 scale them as NCCL's hwLat rows do.
constexpr double kBaseLat[2][3] = {{6.6e-6, 14.0e-6, 8.4e-6},  // ring: LL, LL128, Simple
                                   {6.8e-6, 14.0e-6, 0.0}};    // tree
constexpr double kNvlsBaseLat = 23e-6;                          // NVLS (Simple only)
constexpr double kNvlinkStep[2][3] = {{0.6 / 3.4, 1.9 / 3.4, 1.0},           // ring, per Simple step
                                      {0.6 / 3.4, 1.25 / 3.4, 28.0 / 3.4}};  // tree
constexpr double kNetStep[2][3] = {{2.7 / 9.6, 4.0 / 9.6, 1.0}, {5.0 / 9.6, 8.5 / 9.6, 50.0 / 9.6}};
// NVLink SHARP (NVSwitch gen 3): the switch reduces and multicasts, so each GPU sends and
// receives its buffer once per direction; the switch's reduction throughput limits it to this
// share of the link (fitted on nccl-tests all_reduce_perf on 8 H100 SXM, ~470 GB/s bus bandwidth
// at 450 GB/s NVLink; tests/data/nccl-tests/published.json).
constexpr double kNvlsShare = 0.60;

// Bandwidth of each protocol as a share of the link's (tuning.cc "model refinements"): LL moves
// 8 bytes of data per 16-byte line and runs at 1/4 (1/3 for single-node gathers); LL128 carries
// 120 of 128 bytes (0.92); trees reach 0.9 of a ring's bus bandwidth, LL on a tree 1/3.8 of
// that, LL128 7/9 inside a node and 0.915 across.
double proto_share(int algo, Protocol p, Collective op, bool multi_node) {
  if (algo == 0) {
    if (p == Protocol::LL)
      return (multi_node || op == Collective::AllReduce) ? 1.0 / 4.0 : 1.0 / 3.0;
    if (p == Protocol::LL128) return 0.92;
    return 1.0;
  }
  const double tree = 0.9;
  if (p == Protocol::LL) return tree / 3.8;
  if (p == Protocol::LL128) return tree * (multi_node ? 0.915 : 7.0 / 9.0);
  return tree;
}
}  // namespace

ProtocolParams protocol_params(Algorithm algo, Protocol p, Collective op, bool multi_node) {
  if (algo == Algorithm::Nvls) return {kNvlsBaseLat, 1.0, 1.0, kNvlsShare};
  const int a = algo == Algorithm::Tree ? 1 : 0;
  const int k = static_cast<int>(p);
  return {kBaseLat[a][k], kNvlinkStep[a][k], kNetStep[a][k], proto_share(a, p, op, multi_node)};
}

bool protocol_enabled(Protocol p, bool nvlink, bool multi_node) {
  return p != Protocol::LL128 || (nvlink && !multi_node);
}

double nvls_bytes_per_s(const Cluster& c) {
  // The cluster's NVSwitch generation may give its own share (Blackwell presets: docs/presets.md).
  const double share = c.intra.nvls_share > 0 ? c.intra.nvls_share : kNvlsShare;
  return c.intra.bandwidth_bytes_per_s * share;
}

Group lone_group(int64_t gpus, const Cluster& c) {
  // A group that fits one NVLink domain sits in one (Slurm keeps a job of up to a rack's trays in
  // that rack); a larger one fills the job's segment of each domain (docs/presets.md).
  const int64_t dom = gpus <= c.nvlink_domain() ? c.nvlink_domain() : c.domain_gpus();
  const int64_t per_node = std::min(gpus, std::max<int64_t>(1, dom));  // NVLink domain
  return {gpus, per_node, per_node};
}

}  // namespace parplan::cost
