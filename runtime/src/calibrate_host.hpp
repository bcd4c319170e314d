#pragma once
// `parplan calibrate`: the host-side costs of eager training that the GEMM, bandwidth and
// collective microbenchmarks do not see (docs/cost-model.md "Host overheads"):
// - the time per eager operator (dispatch, autograd recording, the backward node), measured on a
//   chain of one-element operators, forward and backward, where no arithmetic takes time;
// - the fixed cost of each collective and of a point-to-point exchange **as training issues
//   them**: both ranks compute, then call the operation blocking from the compute thread; the cost
//   is the median time of (compute + operation) minus (compute alone), minus the latency/bandwidth
//   model of the operation's bytes. The loops alternate per iteration, so that a change of the
//   machine's load falls on every operation alike.
#include <nlohmann/json.hpp>

#include "parplan/model/cluster.hpp"

namespace parplan::runtime {

class Group;
class Communicator;

// Seconds per eager operator: the runtime's own transformer block (gpt.cpp) at a size where the
// arithmetic is negligible (hidden 8, 4 tokens), forward + backward, divided by the operators the
// cost model counts for it (cost/host_overhead.hpp: 3 x the forward operators). `detail` gets the
// raw points and, as a cross-check, the same for a chain of one-element multiplications.
double measure_op_overhead(Communicator& comm, int rank, nlohmann::json& detail);

// Fixed seconds per call of all_reduce, all_gather, reduce_scatter and a send/recv exchange over
// `g` (every member calls it), as training issues them. `lat_s`, `bw` (bytes/s): the calibrated
// all-reduce model t = 2(p-1) lat + 2(p-1)/p M / bw, whose share is subtracted so that only the
// fixed cost remains (all-gather and reduce-scatter: (p-1) lat + (p-1)/p M / bw; a send/recv:
// lat + M / bw).
// bw_between (when given): the all-reduce's bandwidth as training issues it, between compute (its
// per-byte slope from 128 KB to 2 MB; recorded next to the back-to-back loop's `bw`). The result's
// `concurrent`: what a 2 MB all-reduce / reduce-scatter / all-gather issued on a communication
// thread (dp_overlap.hpp) during 2 ms of compute costs beyond the same compute followed by the
// same collective issued blocking (mean of the three, >= 0).
IntraNode::CallOverhead measure_call_overheads(Group& g, double lat_s, double bw,
                                               nlohmann::json& detail, double* bw_between = nullptr);

}  // namespace parplan::runtime
