#pragma once
// Host-side costs of eager training that neither FLOPs nor bytes describe (docs/cost-model.md
// "Host overheads"): a fixed time per eager operator (gpu.op_overhead_us: dispatch, autograd
// recording, the backward node; on a GPU the launch) times the operators a layer runs, and a
// fixed time per collective call or point-to-point exchange (intra_node.call_overhead_us, per
// operation). All default to 0 (GPU presets); `parplan calibrate` measures them on a host.
#include "parplan/cost/collectives.hpp"
#include "parplan/model/cluster.hpp"
#include "parplan/model/layout.hpp"
#include "parplan/model/model.hpp"
#include "parplan/model/training.hpp"

namespace parplan::cost {

// Eager operators one layer issues per micro-batch in forward, counted from the framework's
// inventory (examples/frameworks/*.json "eager_ops": parplan-runtime.json for the runtime; none
// for a framework without one); the backward issues backward_per_forward per forward operator
// (the data and the weight gradient of a linear, the gradient and its accumulation elsewhere).
struct LayerOps {
  double dense_fwd = 0, moe_fwd = 0;  // a dense and a MoE layer
  double fwd = 0;                     // the model's average layer (MoE share weighted)
  double backward_per_forward = 2;
  double bwd() const { return backward_per_forward * fwd; }
};
LayerOps layer_ops(const Model& m, const Training& t, const Layout& l);
// Embedding (first stage) and final norm + head + loss (last stage), forward operators.
double embedding_ops(const Training& t, const Layout& l);
double head_ops(const Training& t, const Layout& l);

// Seconds of operator overhead: forward and backward of one layer, one micro-batch.
double layer_op_overhead_fwd_s(const Model& m, const Cluster& c, const Training& t, const Layout& l);
double layer_op_overhead_bwd_s(const Model& m, const Cluster& c, const Training& t, const Layout& l);
// Embedding + head, forward and backward, one micro-batch (on their stages).
double embedding_op_overhead_s(const Cluster& c, const Training& t, const Layout& l);
double head_op_overhead_s(const Cluster& c, const Training& t, const Layout& l);

// Fixed seconds per call of `op` over a group of `ranks` (0 for one rank).
double call_overhead_s(Collective op, int64_t ranks, const Cluster& c);

}  // namespace parplan::cost
