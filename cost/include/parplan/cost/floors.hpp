#pragma once
// Fixed costs (docs/cost-model.md "Floors"): every kernel costs its host a dispatch and a launch
// and its GPU a floor beyond its FLOPs and bytes; every collective call costs the host the
// framework's wrapper (NCCL's own latency is in collectives.cpp); and a power-capped GPU runs its
// tensor cores at a lower sustained clock. The kernels a layer runs are the framework's data
// (examples/frameworks/*.json "kernels", "host"); the per-kernel costs are the GPU's
// (cluster "gpu": kernel_launch_us, kernel_device_us, power_limit_W), defaulted per generation.
// A stream segment costs the larger of its device time and its host time (the host runs ahead
// while the GPU is busy), not their sum. These functions are shared with the SimGrid simulation.
#include <string>
#include <vector>

#include "parplan/model/cluster.hpp"
#include "parplan/model/layout.hpp"
#include "parplan/model/model.hpp"
#include "parplan/model/training.hpp"

namespace parplan::cost {

// The GPU's fixed costs with the generation defaults filled in.
struct GpuFloors {
  double kernel_launch_s = 0;  // host, per kernel launch
  double kernel_device_s = 0;  // device, per kernel beyond its work
  int64_t sm_count = 0;        // streaming multiprocessors (the expert GEMMs' tile waves, moe.cpp)
  double clock_scale = 1;      // sustained tensor-core clock under the power cap / at TDP
  double exp_per_s = 0;        // SFU exponentials per second (0: not modelled, CPU)
};
GpuFloors gpu_floors(const Gpu& g);
// The cited per-generation values before the corpus fit (floors.cpp): the fit's priors.
double prior_kernel_launch_s(const Gpu& g);
double prior_kernel_device_s(const Gpu& g);
// Host time per item (host.expert_loop_items, per local expert, call and pass) of the
// framework's per-expert loop: the
// cluster's gpu.expert_loop_us, else the shipped fit's (examples/calibration/efficiency.json "*"
// expert_loop_us), else the framework's prior (host.expert_loop_us); 0 when the framework has no
// loop. `shipped_expert_loop_s` is the fit's value alone (0 when there is none).
double expert_loop_s(const Gpu& g, const Training& t);
double shipped_expert_loop_s();
// Host seconds per Python module / autograd-Function call and pass (framework
// kernels.modules_*): the cluster's gpu.module_call_us, else the shipped fit's ("*"
// module_call_us), else the framework's prior (host.module_call_us); 0 when the framework counts
// no module calls.
double module_call_s(const Gpu& g, const Training& t);
double shipped_module_call_s();
// The scopes of train.cuda_graph_scope that the training's framework has no kernel inventory for
// (kernels.graph_scopes): layer_floors charges their host cost as if not captured, so the CLI
// warns about each.
std::vector<std::string> unpriced_graph_scopes(const Training& t);
// The sustained clock's share under `power_limit_W` of a GPU rated at `tdp_W`: dynamic power
// grows with f V^2 and V with f under DVFS, so f ~ P^(1/3); 1 without a cap.
double power_clock_scale(double tdp_W, double power_limit_W);

// Kernels one layer launches per micro-batch (the model's average of dense and MoE layers).
struct LayerKernels {
  double fwd = 0, bwd = 0, recompute = 0;
  double host_syncs = 0;  // device-to-host synchronisations (MoE dispatcher), per forward
  double total() const { return fwd + bwd + recompute; }
};
LayerKernels layer_kernels(const Model& m, const Training& t, const Layout& l);

// One layer, one micro-batch: the device floors of its kernels and the host time to issue them
// (dispatch + launch per kernel; collective calls are added by the caller, step.cpp).
struct LayerFloors {
  double kernels = 0;
  double device_s = 0;  // kernels x kernel_device_s
  double host_s = 0;    // host time of fwd + bwd + recompute (no collectives)
  double host_fwd_s = 0;  // of it, the forward's (the segment the MoE dispatcher's syncs close)
  double host_syncs = 0;  // device-to-host syncs per forward (LayerKernels::host_syncs)
  double sync_s = 0;    // device idle after the forward's host syncs: the host's next launch
};
LayerFloors layer_floors(const Model& m, const Cluster& c, const Training& t, const Layout& l);

// Host seconds per collective call as the framework issues it (the c10d wrapper + launch).
double collective_host_s(const Cluster& c, const Training& t);

// Embedding (first stage) and final norm + head + loss (last stage), forward + backward of one
// micro-batch: the device floors and the host time of their kernels.
struct EndFloors {
  double device_s = 0, host_s = 0;
};
EndFloors embedding_floors(const Cluster& c, const Training& t);
EndFloors head_floors(const Cluster& c, const Training& t);

}  // namespace parplan::cost
