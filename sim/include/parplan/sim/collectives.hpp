#pragma once
// Simulating bare collectives on a cluster's platform: the checks of the flow decomposition
// against the alpha-beta formulas, and contention experiments (two rings sharing a link).
#include <cstdint>
#include <optional>
#include <vector>

#include "parplan/cost/collectives.hpp"
#include "parplan/sim/platform.hpp"

namespace parplan::sim {

struct CollectiveJob {
  cost::Collective op = cost::Collective::AllReduce;
  double bytes = 0;           // cost::collective_time's convention
  std::vector<int64_t> gpus;  // members (GPU ids) in ring order; SendRecv: {src, dst}
  // Auto: the cost model's algorithm and NCCL protocol for the group (cost::collective_estimate);
  // an explicit algorithm runs with `protocol`, or without one with the cost model's best
  // protocol for that algorithm.
  cost::Algorithm algorithm = cost::Algorithm::Ring;
  int repeat = 1;  // run the collective this many times back to back
  std::optional<cost::Protocol> protocol;
};

// Runs every job concurrently, starting at time 0, and returns each job's completion time in
// seconds. Builds its own engine: call it once per process (see worker.hpp).
// `symmetry`: a lone job whose group holds the same GPUs of each node on a non-blocking fabric
// runs its first node's members only (exact by symmetry, docs/simulation.md "Symmetric
// collectives"); false: every member runs.
std::vector<double> simulate_collectives(const Cluster& c, const std::vector<CollectiveJob>& jobs,
                                         NetworkModel network = NetworkModel::Cm02,
                                         bool symmetry = true);

}  // namespace parplan::sim
