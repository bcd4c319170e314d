#pragma once
// Pipeline schedules: bubble fraction and micro-batch counts (Huang et al. 2019 GPipe;
// Narayanan et al. 2021 1F1B and interleaved 1F1B).
#include <cstdint>
#include <vector>

#include "parplan/model/layout.hpp"
#include "parplan/model/model.hpp"
#include "parplan/model/training.hpp"

namespace parplan::cost {

// Micro-batches per step per pipeline: global_batch / (dp * micro_batch).
int64_t micro_batches(const Training& t, const Layout& l);

// Layers on the most loaded stage: ceil(layers / (pp v)) per chunk, v chunks. Equals layers / pp
// when pp * v divides the layers; otherwise stages are uneven (as Llama 3 405B's 126 layers on
// 16 stages) and the fullest one paces the pipeline.
int64_t max_stage_layers(int64_t layers, int64_t pp, int64_t v);

// Chunks the layers are cut into per stage: v (interleaved), 2 for the V schedules (ZB-V,
// DualPipeV: 2p chunks, GPU s holds chunks s and 2p - 1 - s), else 1. DualPipe keeps p stages
// (each GPU holds two of them: memory.cpp, step.cpp).
int64_t layer_chunks(const Layout& l);

// Transformer layers on pipeline stage `stage` (all its chunks). With layout.first_stage_layers /
// last_stage_layers set (Megatron --decoder-first/last-pipeline-num-layers) those stages hold that
// many and the others share the rest equally (layout validation checks it divides); otherwise
// max_stage_layers(layers, pp, v).
int64_t stage_layers(const Model& m, const Layout& l, int stage);
// The most layers any stage holds.
int64_t max_stage_layers(const Model& m, const Layout& l);

// Transformer layers of every stage as the step runs them (they sum to the model's layers): with
// first/last_stage_layers, stage_layers' split; otherwise ceil(layers / (pp v)) per chunk on the
// loaded stages (max_stage_layers), the shortfall taken from the first and last stages (which
// also hold the embedding and the output layer), then the next ones inwards, at least v per
// stage. What the Megatron export writes (--decoder-first/last-pipeline-num-layers) and the
// simulation builds. The analytical step prices the loaded stage and the average one (step.cpp).
std::vector<int64_t> stage_layer_split(const Model& m, const Layout& l);
// The same per model chunk in Megatron's layer order (chunk k of stage r: entry k * pp + r, its
// layers follow entry k * pp + r - 1's), a stage's layers split evenly over its v chunks.
std::vector<int64_t> chunk_layer_split(const Model& m, const Layout& l);

// One stage's work per micro-batch as shares of its forward + full backward time (= 1): the
// forward share and the weight-gradient share (the backward's W GEMMs, which the zero-bubble and
// DualPipe schedules defer into the bubble). Defaults: F = B_input = W (Qi et al. 2024's T_F =
// T_B = T_W), forward 1/3 and W 1/3.
struct PassShares {
  double forward = 1.0 / 3.0;
  double weight_grad = 1.0 / 3.0;
};

// Pipeline bubble in stage-times of one micro-batch (stage time F + B, B the full backward):
//   GPipe, 1F1B   (p - 1)                     Narayanan et al. 2021 sec. 2.2.1
//   interleaved   (p - 1) / v                 Narayanan et al. 2021 sec. 2.2.2
//   ZB-H1         (p - 1)(F + B - 2W)         Qi et al. 2024 (arXiv:2401.10241) sec. 3.1,
//                                             DeepSeek-V3 report Table 2 (ZB1P)
//   ZB-V          (p - 1)(F + B - 3W) / 2     per chunk (half a stage) (p - 1)(f + b_in - 2w):
//                                             zero at T_F = T_B = T_W as Qi et al.'s ZB-V, the
//                                             V-shaped 1F1B's (p - 1)(F + B) / 2 without W split
//   DualPipe      (p/2 - 1)(F&B + B - 3W)     DeepSeek-V3 report Table 2, F&B = F + B (their
//                                             overlap hides communication, not compute)
//   DualPipeV     (p - 1)(F&B + B - 3W) / 2   deepseek-ai/DualPipe README: DualPipe's bubble with
//                                             2p chunks of half a stage on p GPUs
// Never below 0.
double bubble_stages(Schedule s, int64_t p, int64_t v, const PassShares& x = {});
// Bubble time / ideal time: bubble_stages / m (Narayanan et al. 2021: (p - 1) / (v m)).
double bubble_fraction(Schedule s, int64_t p, int64_t v, int64_t m, const PassShares& x = {});
// Whether the bubble depends on the pass shares (the W-split schedules); GPipe / 1F1B /
// interleaved do not.
bool splits_weight_grad(Schedule s);

// Model chunks one GPU runs per micro-batch: v (interleaved), 2 (ZB-V, DualPipeV: the V; DualPipe:
// a stage of each direction), else 1. Each chunk is one send hop per pass.
int64_t schedule_chunks(Schedule s, int64_t v);

// Point-to-point transfers on the critical path of a step, in units of one activation send:
// forward activation and backward gradient per micro-batch and chunk in the steady state plus the
// fill and drain hops (2 v m + 2 (p - 1)). DualPipe and DualPipeV overlap their steady-state sends
// with the paired forward/backward chunk (DeepSeek-V3 report sec. 3.2.1: "both all-to-all and PP
// communication can be fully hidden"): only the fill and drain hops remain.
double exposed_sends(Schedule s, int64_t p, int64_t v, int64_t m);

// Whether the schedule overlaps a micro-batch's expert all-to-all with another micro-batch's
// compute (DualPipe's F&B chunks, DeepSeek-V3 report sec. 3.2.1 fig. 4).
bool overlaps_ep_comm(Schedule s);

// Activations in flight on pipeline stage `stage` (micro-batches of that stage's layers), as each
// schedule's warm-up leaves them (cost/src/memory.cpp in_flight_microbatches uses it):
//   GPipe m; 1F1B min(p - s, m); interleaved Megatron's warm-up (memory.cpp);
//   ZB-H1, ZB-V  min(p, m) on every stage: Qi et al. 2024 keep 1F1B's peak p M_B, and the
//                deferred W of stage s is p - 1 micro-batches behind its forward, so later
//                stages reach it too (their held inputs and output gradients);
//   DualPipe     min(p + 1, m): DeepSeek-V3 Table 2 "PP + 1";
//   DualPipeV    min(2p + 1, 2m) chunks of half a stage (the DualPipe README's PP + 1 over its 2p
//                stages).
// `a2a_overlap_extra`: Megatron-Core's 1F1B all-to-all overlap runs one more (chunk-)micro-batch
// of warm-up (pipeline_parallel/schedules.py: num_warmup_microbatches += 1 with
// overlap_moe_expert_parallel_comm; without a pipeline the combined schedule holds two).
double in_flight_stages(Schedule s, int64_t p, int64_t v, int64_t m, int stage,
                        bool a2a_overlap_extra = false);

}  // namespace parplan::cost
