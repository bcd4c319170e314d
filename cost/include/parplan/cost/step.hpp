#pragma once
// Time per step: everything combined, with overlap. StepWork is the per-GPU work list that both
// the analytical prediction and the SimGrid simulation consume, so they share every number.
#include <nlohmann/json_fwd.hpp>

#include "parplan/cost/collectives.hpp"
#include "parplan/cost/compute.hpp"
#include "parplan/cost/flops.hpp"
#include "parplan/cost/memory.hpp"

namespace parplan::cost {

// Per-GPU work of one step, broken into the pieces a schedule executes.
struct StepWork {
  int64_t micro_batches = 1;     // per pipeline, per step
  int64_t layers_per_chunk = 1;  // layers per model chunk (layers / (pp * v))
  int64_t chunks = 1;            // virtual stages per GPU
  LayerCompute layer;            // one layer, one micro-batch
  double embedding_s = 0;        // first stage, fwd+bwd per micro-batch
  double logits_s = 0;           // last stage, fwd+bwd per micro-batch

  // Tensor parallel: per layer per micro-batch, collectives of `tp_bytes` each.
  Collective tp_op = Collective::AllReduce;  // ReduceScatter+AllGather pairs when SP
  double tp_bytes = 0;
  int tp_fwd_collectives = 0;  // in forward
  int tp_bwd_collectives = 0;  // in backward (recomputation included)
  double tp_collective_s = 0;  // one collective's time

  // Context parallel (ring attention): per layer per micro-batch, fwd and bwd exchange.
  double cp_fwd_bytes = 0, cp_bwd_bytes = 0;
  double cp_fwd_s = 0, cp_bwd_s = 0;           // total exchange time
  double cp_fwd_exposed_s = 0, cp_bwd_exposed_s = 0;  // after overlap with attention compute

  // Expert parallel (MoE): dispatch/combine all-to-alls per (average) layer per micro-batch.
  double ep_fwd_s = 0, ep_bwd_s = 0;
  double ep_fwd_exposed_s = 0, ep_bwd_exposed_s = 0;

  // Pipeline: activation (or gradient) message per micro-batch per chunk boundary.
  double pp_bytes = 0;
  double pp_send_s = 0;

  // Data parallel (and ZeRO): per step.
  double dp_grad_bytes = 0;       // gradient bytes this GPU reduces
  double dp_reduce_s = 0;         // all-reduce (ZeRO 0) or reduce-scatter (ZeRO >= 1... 2)
  double dp_param_gather_s = 0;   // ZeRO 1/2: all-gather of updated params after the step
  double zero3_layer_gather_s = 0;  // ZeRO-3: all-gather of one layer's params (per use)
  double dp_bucket_s = 0;         // the last bucket's reduction (never hidden)
  double dp_param_bytes = 0;      // this GPU's parameters in the training dtype (ZeRO gathers)
  int zero3_gathers_per_layer = 1;  // ZeRO-3 all-gathers per layer per pass (framework)
  bool zero3_gather_once = false;   // PP: gathered once per step, not per micro-batch (framework)
  // ZeRO-3, per layer and micro-batch: what the layer's compute does not hide of its parameter
  // gathers (forward; backward with its share of the gradient reduce-scatter).
  double zero3_fwd_exposed_s = 0, zero3_bwd_exposed_s = 0;
  double tp_exposed_s = 0;  // per layer per micro-batch, after TP comm overlap (else all of it)
  double amax_reduce_s = 0;  // of it, NVFP4's amax all-reduces under SP (fp8.hpp), never hidden

  double optimizer_s = 0;  // optimizer step on this GPU
  double offload_s = 0;    // PCIe transfers + CPU optimizer (offload); activation offload exposed

  // Fixed costs (floors.hpp): the host time to issue one layer's kernels and collective calls
  // per micro-batch (a layer costs the larger of it and the device time), and the
  // size-independent part (NCCL latency) of one TP collective, shown with the floors when the
  // TP collectives are not overlapped (tp_hidden false).
  double layer_host_s = 0;
  double layer_host_fwd_s = 0;  // of it, the forward's kernels and calls (floors.cpp host_fwd_s)
  double tp_latency_s = 0;
  bool tp_hidden = false;
};
StepWork step_work(const Model& m, const Cluster& c, const Training& t, const Layout& l);
// The per-layer part of step_work, exactly as step_work computes it: the layer's compute, its TP
// (with the framework's overlap), CP and EP communication, the pipeline send and the layer's
// host time; no embedding, logits, DP or optimizer terms (the search's bounds, which need only
// these, call it per block).
StepWork layer_work(const Model& m, const Cluster& c, const Training& t, const Layout& l);

// What the host takes beyond the device to issue one layer of `lw` per micro-batch, split by
// pass: the step's "launch and latency" excess (floors.hpp). Without a device-to-host sync the
// host's lead carries across passes, so the layer costs max(host, device) and the excess is split
// by the passes' host time; with one, each pass costs the larger of its own host and device time.
// The analytical stage time and the SimGrid simulation both charge exactly this.
struct HostExcess {
  double fwd_s = 0, bwd_s = 0;
  double total() const { return fwd_s + bwd_s; }
};
HostExcess layer_host_excess(const StepWork& lw);

struct TimeBreakdown {
  double compute = 0;          // fwd + bwd + recompute on the critical path (no bubble)
  double tp_comm = 0;          // exposed TP collectives
  double cp_comm = 0;          // exposed CP exchange
  double ep_comm = 0;          // exposed expert-parallel all-to-all (MoE dispatch + combine)
  double pp_comm = 0;          // exposed pipeline sends/receives
  double pp_bubble = 0;        // pipeline fill and drain
  double dp_comm_exposed = 0;  // DP / ZeRO communication not hidden behind backward
  double dp_comm_total = 0;    // all DP / ZeRO communication, hidden or not
  double optimizer = 0;        // optimizer step (+ offload)
  // Fixed costs on the critical path (floors.hpp): the kernels' device floors, what the host
  // takes beyond the device to issue a layer's kernels and calls, and the exposed TP
  // collectives' latency: "launch and latency".
  double launch_latency = 0;
};

struct StepCost {
  double step_time_s = 0;
  double tokens_per_s = 0;
  double model_tflops_per_gpu = 0;
  double hardware_tflops_per_gpu = 0;
  double mfu = 0;
  double hfu = 0;
  bool fits = false;
  int64_t micro_batches = 0;
  double exposed_comm_fraction = 0;  // (tp + cp + ep + pp + dp exposed) / step
  MemoryBreakdown memory;
  TimeBreakdown time;
  FlopCount flops;
};

// The analytical prediction for one layout. Throws parplan::Error when the layout is invalid for
// the inputs (use validate() first to collect every problem).
StepCost predict(const Model& m, const Cluster& c, const Training& t, const Layout& l);

// The same without validation or allocation, for the planner's inner loop.
// `memory`, when given, is memory_per_gpu(m, c, t, l) already computed by the caller (the planner
// prunes on it first), so it is not computed twice.
StepCost predict_unchecked(const Model& m, const Cluster& c, const Training& t, const Layout& l,
                           const MemoryBreakdown* memory = nullptr);

nlohmann::json to_json(const StepCost& s);
nlohmann::json to_json(const MemoryBreakdown& m);

}  // namespace parplan::cost
