#pragma once
// Memory per GPU: model states by ZeRO stage, activations by recomputation and parallelism,
// buffers, fragmentation reserve, CPU offload.
#include "parplan/model/cluster.hpp"
#include "parplan/model/layout.hpp"
#include "parplan/model/model.hpp"
#include "parplan/model/training.hpp"

namespace parplan::cost {

struct MemoryBreakdown {
  double params = 0;       // bytes per GPU (training-dtype weights, or fp32 when not mixed)
  double grads = 0;
  double optimizer = 0;    // fp32 master weights + Adam moments (mixed precision: 12 bytes/param)
  double activations = 0;  // stored for backward, all in-flight micro-batches
  double buffers = 0;      // communication buffers, ZeRO-3 gathered layers, logits workspace
  double gathered_layers = 0;  // of buffers: ZeRO-3's gathered layers (divided by layout.tiles)
  double reserve = 0;      // fragmentation / allocator reserve
  double total = 0;        // sum of the above
  double capacity = 0;     // GPU memory
  double cpu_offload = 0;  // bytes per GPU kept in host memory (offload)
  // Offload per node: host RAM (or NVMe, ZeRO-Infinity) that the node's GPUs fill, against the
  // cluster's host.memory_bytes / host.nvme_bytes (0: unknown, not checked).
  double host_per_node = 0, host_capacity = 0;
  double nvme_per_node = 0, nvme_capacity = 0;
  bool fits_host = true;
  bool fits = false;  // GPU memory and, with offload, host memory (or NVMe)
  // Shares of the above, for comparison with published per-layer formulas.
  double layer_params = 0;       // transformer-layer parameters on this GPU (count, not bytes)
  double layer_activations = 0;  // transformer-layer activations (bytes), no embedding/logits
  int stage = 0;                 // the pipeline stage this breakdown is for
};

// Korthikanti et al. 2022, eq. 1-4: activation bytes of one layer for one micro-batch on one GPU.
double layer_activation_bytes(const Model& m, const Training& t, const Layout& l);

// Of a stage's `stage_layers`, how many have their activations offloaded to host memory
// (layout.activation_offload_layers, Megatron-Core cpu_offloading_num_layers): at most all but
// the last, whose backward starts at once.
double offloaded_activation_layers(const Layout& l, double stage_layers);

// Bytes per parameter of model state before partitioning (ZeRO: 2 + 2 + 12 for mixed Adam).
struct StateBytes {
  double params, grads, optimizer;
};
StateBytes state_bytes_per_param(const Training& t);

// Micro-batches whose activations a stage holds at its peak (GPipe: m; 1F1B: min(p - stage, m);
// interleaved: Korthikanti et al. 2022 sec. 4.2.3 factor 1 + (p-1)/(p v)).
// `a2a_overlap`: the expert all-to-all overlapped across micro-batches (one more in flight).
double in_flight_microbatches(const Layout& l, int64_t micro_batches, int stage,
                              bool a2a_overlap = false);

// Memory of one pipeline stage; stage -1 means the stage with the largest total (the peak GPU).
MemoryBreakdown memory_per_gpu(const Model& m, const Cluster& c, const Training& t, const Layout& l,
                               int stage = -1);

// Memory-centric tiling: the fewest tiles (at most kMaxTiles) that shrink the ZeRO-3 gathered
// layers of `untiled` (a breakdown with tiles = 1) enough to fit; 1 when it fits or none does.
constexpr int32_t kMaxTiles = 256;
int32_t tiles_to_fit(const MemoryBreakdown& untiled);

}  // namespace parplan::cost
