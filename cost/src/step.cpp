#include "parplan/cost/step.hpp"

#include <algorithm>
#include <cmath>
#include <utility>
#include <vector>

#include "parplan/cost/attention.hpp"
#include "parplan/cost/context_parallel.hpp"
#include "parplan/cost/floors.hpp"
#include "parplan/cost/fp8.hpp"
#include "parplan/cost/framework.hpp"
#include "parplan/cost/memory.hpp"
#include "parplan/cost/moe.hpp"
#include "parplan/cost/pipeline.hpp"
#include "parplan/cost/sharding.hpp"
#include "overlap.hpp"
#include "stage_params.hpp"

namespace parplan::cost {

StepWork layer_work(const Model& m, const Cluster& c, const Training& t, const Layout& l) {
  StepWork w;
  const Placement pl = place(l, c);
  const double e = t.element_bytes();
  const double T = double(t.seq_len) / double(l.cp) * double(l.micro_batch);
  const double h = double(m.hidden);
  w.micro_batches = micro_batches(t, l);
  w.chunks = int32_t(layer_chunks(l));
  w.layers_per_chunk = max_stage_layers(m, l) / w.chunks;
  w.layer = layer_compute(m, c, t, l);

  // Tensor parallel (Narayanan et al. 2021 sec. 3.2 / Korthikanti et al. 2022 sec. 4.2.2): per
  // layer two all-reduces of the s*b*h activation in forward and two in backward; with sequence
  // parallelism each becomes an all-gather + reduce-scatter pair of the same total volume.
  if (l.tp > 1) {
    w.tp_bytes = T * h * e;
    const int fwd_pairs = 2;
    const int per_pair = l.sequence_parallel ? 2 : 1;
    w.tp_op = l.sequence_parallel ? Collective::AllGather : Collective::AllReduce;
    w.tp_fwd_collectives = fwd_pairs * per_pair;
    w.tp_bwd_collectives = fwd_pairs * per_pair;
    // Under SP only the sharded LayerNorm output is kept, so backward all-gathers the QKV and FC1
    // inputs again for the weight gradients (Megatron-LM tensor_parallel/layers.py,
    // LinearWithGradAccumulationAndAsyncCommunication).
    if (l.sequence_parallel) w.tp_bwd_collectives += fwd_pairs;
    if (l.recompute == Recompute::Full) w.tp_bwd_collectives += fwd_pairs * per_pair;
    w.tp_collective_s = collective_time(w.tp_op, w.tp_bytes, pl.tp, c);
    w.tp_latency_s = collective_estimate(w.tp_op, w.tp_bytes, pl.tp, c).latency_s;
  }

  // Context parallel: ring, Ulysses or USP (context_parallel.cpp).
  if (l.cp > 1) {
    const CpWork cw = context_parallel_work(m, c, t, l, w.layer);
    w.cp_fwd_bytes = cw.fwd_bytes;
    w.cp_bwd_bytes = cw.bwd_bytes;
    w.cp_fwd_s = cw.fwd_s;
    w.cp_bwd_s = cw.bwd_s;
    w.cp_fwd_exposed_s = cw.fwd_exposed_s;
    w.cp_bwd_exposed_s = cw.bwd_exposed_s;
  }

  // Expert parallel: MoE token dispatch and combine over the EP group (moe.cpp).
  const EpComm ep = ep_comm(m, c, t, l, w.layer);
  w.ep_fwd_s = ep.fwd_s, w.ep_bwd_s = ep.bwd_s;
  w.ep_fwd_exposed_s = ep.fwd_exposed_s, w.ep_bwd_exposed_s = ep.bwd_exposed_s;

  // Pipeline: one activation per micro-batch per chunk boundary; Megatron's scatter/gather
  // optimisation sends 1/tp of it from each TP rank (Narayanan et al. 2021 sec. 4.1).
  if (l.pp > 1) {
    w.pp_bytes = T * h * e / l.tp;
    Group pair{2, pl.pp.per_node >= 2 ? 2 : 1, c.gpus_per_node};
    w.pp_send_s = collective_time(Collective::SendRecv, w.pp_bytes, pair, c);
  }

  // TP overlap as the framework runs it (overlap.cpp).
  detail::tp_overlap(w, c, t, l);
  // NVFP4 under SP: the quantizers' amax all-reduces over the TP group (fp8.cpp), each a small
  // all-reduce (the row- and column-wise fp32 amax) the cast waits for: never hidden.
  const int amax_per_pass = amax_reductions_per_pass(t, l);
  if (amax_per_pass > 0) {
    w.amax_reduce_s = 2.0 * amax_per_pass * collective_time(Collective::AllReduce, 8.0, pl.tp, c);
    w.tp_exposed_s += w.amax_reduce_s;
  }

  // Host time of one layer per micro-batch (floors.cpp): its kernels and its collective calls
  // (TP; EP dispatch and combine, forward, backward and a full recomputation's; CP ring steps).
  double calls = double(w.tp_fwd_collectives + w.tp_bwd_collectives + 2 * amax_per_pass);
  double fwd_calls = double(w.tp_fwd_collectives + amax_per_pass);
  if (m.is_moe() && l.ep > 1) {
    const double share = m.moe_layer_share();
    calls += share * (l.recompute == Recompute::Full ? 6 : 4);
    fwd_calls += share * 2;  // dispatch and combine
  }
  if (l.cp > 1) calls += 3.0 * double(l.cp - 1), fwd_calls += double(l.cp - 1);
  w.layer_host_s = w.layer.host_s + calls * collective_host_s(c, t);
  w.layer_host_fwd_s = w.layer.host_fwd_s + fwd_calls * collective_host_s(c, t);
  return w;
}

StepWork step_work(const Model& m, const Cluster& c, const Training& t, const Layout& l) {
  StepWork w = layer_work(m, c, t, l);
  w.embedding_s = embedding_time(m, c, t, l);
  w.logits_s = logits_time(m, c, t, l);
  // Data parallel and ZeRO as the framework runs them (overlap.cpp, sharding.cpp).
  const StateBytes sb = state_bytes_per_param(t);
  const detail::StageParams stage0 = detail::gpu_params(m, l, 0);  // DualPipe: both directions
  const double n_local = stage0.total();
  if (detail::reduces_gradients(t, l)) detail::dp_work(w, m, c, t, l, n_local, stage0.layers);
  // HSDP: the optimizer updates 1/shard_group (x cp over DP x CP, sharding.hpp)
  const double shard = double(shard_ranks(t, l));

  const double updated = n_local / (l.zero >= 1 ? shard : 1.0);
  if (l.offload == Offload::None) {
    w.optimizer_s = optimizer_time(c, t, updated);
  } else {
    // ZeRO-Offload (Ren et al. 2021): gradients down and parameters up over PCIe, Adam on the CPU.
    const double pcie = c.host.pcie_or_default();
    const double cpu_rate = c.host.cpu_adam_params_per_s > 0 ? c.host.cpu_adam_params_per_s : 1e9;
    w.offload_s = updated * (sb.grads + sb.params) / pcie + updated / cpu_rate;
    if (l.offload == Offload::OptimizerAndParams) {
      // ZeRO-Infinity: each micro-batch streams this GPU's parameter shard in for forward and
      // backward.
      w.offload_s += double(w.micro_batches) * 2.0 * updated * sb.params / pcie;
    }
  }
  if (l.activation_offload_layers > 0) {
    // Activation offload (Transformer Engine cpu_offload.py): one copy stream per GPU; a layer's
    // copy to the host runs behind the next layers' forward and its reload ahead of its backward.
    // The stream keeps up while a layer's copy fits in a layer's compute; what the N copies need
    // beyond the compute of the stage's other L - 1 layers, forward and backward, is exposed, per
    // micro-batch (and chunk pass: L is the stage's layers).
    const double link = c.host.pcie_or_default();
    const double layers = double(max_stage_layers(m, l));
    const double n = offloaded_activation_layers(l, layers);
    const double copy_s = n * layer_activation_bytes(m, t, l) / link;
    const double fwd_s = (layers - 1) * w.layer.fwd_s, bwd_s = (layers - 1) * w.layer.bwd_s;
    w.offload_s += double(w.micro_batches) *
                   (std::max(0.0, copy_s - fwd_s) + std::max(0.0, copy_s - bwd_s));
  }
  return w;
}

namespace {
struct StageTime {
  double compute = 0, tp = 0, cp = 0, ep = 0, zero3 = 0, launch = 0;
  double total() const { return compute + tp + cp + ep + zero3 + launch; }
};

StageTime mean(const StageTime& a, const StageTime& b) {
  return {(a.compute + b.compute) / 2, (a.tp + b.tp) / 2, (a.cp + b.cp) / 2, (a.ep + b.ep) / 2,
          (a.zero3 + b.zero3) / 2};
}

// One stage's forward and weight-gradient shares of its compute (pipeline.hpp PassShares): the
// weight-gradient GEMMs repeat the forward linear GEMMs' FLOPs (dW = X^T dY); recomputation runs
// in the backward pass.
PassShares pass_shares(const LayerCompute& lc) {
  PassShares x;
  const double total = lc.fwd_s + lc.bwd_s + lc.recompute_s;
  if (!(total > 0)) return x;
  x.forward = lc.fwd_s / total;
  x.weight_grad = std::min(lc.fwd_linear_s, lc.bwd_s) / total;
  return x;
}

}  // namespace

HostExcess layer_host_excess(const StepWork& lw) {
  const LayerCompute& lc = lw.layer;
  // A layer's stream costs the larger of its device time (compute with the kernels' floors,
  // exposed TP / CP / EP communication) and the host time to issue it.
  const double device = lc.fwd_s + lc.bwd_s + lc.recompute_s + lw.tp_exposed_s +
                        lw.cp_fwd_exposed_s + lw.cp_bwd_exposed_s + lw.ep_fwd_exposed_s +
                        lw.ep_bwd_exposed_s;
  const double host_fwd = std::min(lw.layer_host_fwd_s, lw.layer_host_s);
  HostExcess x;
  if (lc.host_syncs > 0) {
    // A device-to-host sync in the forward (the MoE dispatcher's split sizes, floors.hpp) drains
    // the host's lead: the lead it banked while the GPU ran the backward's long kernels cannot
    // carry into the forward, so each pass costs the larger of its own host and device time.
    // The TP collectives' exposure is split by their count per pass.
    const int tp_calls = lw.tp_fwd_collectives + lw.tp_bwd_collectives;
    const double tp_fwd = tp_calls > 0 ? lw.tp_exposed_s * lw.tp_fwd_collectives / tp_calls : 0;
    const double dev_fwd = lc.fwd_s + tp_fwd + lw.cp_fwd_exposed_s + lw.ep_fwd_exposed_s;
    x.fwd_s = std::max(0.0, host_fwd - dev_fwd);
    x.bwd_s = std::max(0.0, (lw.layer_host_s - host_fwd) - (device - dev_fwd));
    return x;
  }
  const double excess = std::max(0.0, lw.layer_host_s - device);
  const double fwd_share = lw.layer_host_s > 0 ? host_fwd / lw.layer_host_s : 0.0;
  x.fwd_s = excess * fwd_share;
  x.bwd_s = excess - x.fwd_s;
  return x;
}

namespace {

// w: the step's work (embedding, logits, ZeRO-3 gathers); lw: the work of one of this stage's
// layers (stage_layer_work).
StageTime stage_time(const StepWork& w, const StepWork& lw, const Layout& l, int64_t layers,
                     bool first, bool last) {
  StageTime s;
  const double L = double(layers);
  const LayerCompute& lc = lw.layer;
  s.compute = L * (lc.fwd_s + lc.bwd_s + lc.recompute_s);
  if (first) s.compute += w.embedding_s;
  if (last) s.compute += w.logits_s;
  s.tp = L * lw.tp_exposed_s;
  s.cp = L * (lw.cp_fwd_exposed_s + lw.cp_bwd_exposed_s);
  s.ep = L * (lw.ep_fwd_exposed_s + lw.ep_bwd_exposed_s);
  if (l.zero >= 3 && l.dp > 1 && !w.zero3_gather_once)  // else once per step (overlap.cpp)
    s.zero3 = L * (w.zero3_fwd_exposed_s + w.zero3_bwd_exposed_s);
  // Floors (floors.cpp): a layer's stream costs the larger of its device time (compute with the
  // kernels' floors, exposed TP / CP / EP communication) and the host time to issue it; the
  // floors and the host's excess are shown on their own, with the TP collectives' latency when
  // nothing hides them.
  const double excess = layer_host_excess(lw).total();
  s.compute -= L * lc.floor_s;
  s.launch = L * (lc.floor_s + excess);
  if (!lw.tp_hidden && l.tp > 1) {
    const double lat = double(lw.tp_fwd_collectives + lw.tp_bwd_collectives) * lw.tp_latency_s;
    s.tp -= L * lat;
    s.launch += L * lat;
  }
  return s;
}

// The MoE layers of pipeline stage `stage`, by position as the simulation places them
// (sim/src/step_moe.cpp ep_layers): chunk k of stage r holds the layers after chunk k * pp + r - 1's
// (cost::chunk_layer_split), so a dense-first model's leading dense layers sit on stage 0.
int64_t stage_moe_layers(const Model& m, const Layout& l, const std::vector<int64_t>& chunks,
                         int stage) {
  const int64_t pp = std::max(1, l.pp);
  int64_t first = 0, n = 0;
  for (size_t c = 0; c < chunks.size(); ++c) {
    if (int64_t(c) % pp == stage)
      for (int64_t i = first; i < first + chunks[c]; ++i) n += m.is_moe_layer(i) ? 1 : 0;
    first += chunks[c];
  }
  return n;
}

// One layer of a stage priced with the stage's own mix of dense and MoE layers (DeepSeek-V3's 3
// dense layers on stage 0, only MoE layers on the others), not the model's average layer:
// layer_work on the model cut to the stage's layers, its MoE layers last (only the share counts).
// The model's average (w) where the stage's share is the model's.
StepWork stage_layer_work(const Model& m, const Cluster& c, const Training& t, const Layout& l,
                          const StepWork& w, const std::vector<int64_t>& chunks, int stage,
                          std::vector<std::pair<std::pair<int64_t, int64_t>, StepWork>>& cache) {
  if (!m.is_moe() || l.pp <= 1) return w;
  int64_t layers = 0;
  const int64_t pp = std::max(1, l.pp);
  for (size_t k = size_t(stage); k < chunks.size(); k += size_t(pp)) layers += chunks[k];
  const int64_t moe = stage_moe_layers(m, l, chunks, stage);
  if (layers <= 0 || moe * m.layers == layers * m.moe_layers()) return w;
  for (const auto& [key, sw] : cache)
    if (key.first == layers && key.second == moe) return sw;
  Model sm = m;
  sm.layers = layers;
  sm.moe.first_dense_layers = layers - moe;
  sm.moe.layer_freq = 1;
  cache.push_back({{layers, moe}, layer_work(sm, c, t, l)});
  return cache.back().second;
}
}  // namespace

StepCost predict_unchecked(const Model& m, const Cluster& c, const Training& t, const Layout& l,
                           const MemoryBreakdown* memory) {
  StepCost r;
  const StepWork w = step_work(m, c, t, l);
  const int64_t p = l.pp, v = l.virtual_stages, mb = w.micro_batches;
  const int64_t layers_per_stage = max_stage_layers(m, l);
  const bool uneven = l.first_stage_layers > 0 || l.last_stage_layers > 0;
  r.micro_batches = mb;

  // The slowest stage sets the pipeline's pace; embedding and logits sit on the first and last.
  // Explicit uneven stages (layout.first/last_stage_layers) price each stage with its own layers;
  // a middle stage may then be the slowest.
  // A MoE model's stages are priced with their own dense and MoE layers (stage_layer_work); the
  // slowest middle stage is the middle one the pace and the bubble see.
  const std::vector<int64_t> chunks = chunk_layer_split(m, l);
  std::vector<std::pair<std::pair<int64_t, int64_t>, StepWork>> cache;
  auto stage_work = [&](int s) { return stage_layer_work(m, c, t, l, w, chunks, s, cache); };
  StageTime first = stage_time(w, stage_work(0), l, stage_layers(m, l, 0), true, p == 1);
  StageTime last =
      p > 1 ? stage_time(w, stage_work(int(p) - 1), l, stage_layers(m, l, int(p) - 1), false, true)
            : first;
  StageTime middle = stage_time(w, stage_work(p > 2 ? 1 : 0), l, stage_layers(m, l, p > 2 ? 1 : 0),
                                false, false);
  double middles = double(std::max<int64_t>(0, p - 2)) * middle.total();
  if (m.is_moe() && p > 2) {
    middles = 0;
    for (int s = 1; s < int(p) - 1; ++s) {
      const StageTime x = stage_time(w, stage_work(s), l, stage_layers(m, l, s), false, false);
      middles += x.total();
      if (x.total() > middle.total()) middle = x;
    }
  }
  if (l.schedule == Schedule::DualPipe && p > 1) {
    // DualPipe: GPU s runs stage s for half the micro-batches and stage p - 1 - s for the other
    // half, so the end GPUs average the first and last stage (DeepSeek-V3 report sec. 3.2.1).
    first = last = mean(first, last);
  }
  // The bubble scales with the average stage (pp*v not dividing the layers: total layers / p).
  const double avg_scale =
      uneven ? 1.0 : double(m.layers) / double(p) / double(layers_per_stage);
  const StageTime& crit = p > 2 && middle.total() > std::max(first.total(), last.total())
                              ? middle
                              : (first.total() >= last.total() ? first : last);
  const double mbd = double(mb);

  TimeBreakdown& tb = r.time;
  tb.compute = mbd * crit.compute;
  tb.tp_comm = mbd * crit.tp;
  tb.cp_comm = mbd * crit.cp;
  tb.ep_comm = mbd * crit.ep;
  tb.launch_latency = mbd * crit.launch;
  // Narayanan et al. 2021: bubble = (p - 1) / v stage-times of one micro-batch.
  double bubble_stage =
      p > 1 ? avg_scale * (first.total() + last.total() + middles) / p : 0.0;
  tb.pp_bubble = bubble_fraction(l.schedule, p, v, mb, pass_shares(w.layer)) * mbd * bubble_stage;
  if (p > 1) {
    // Blocking send/receive pairs in the steady state (forward activation, backward gradient per
    // micro-batch and chunk) plus the fill and drain hops.
    // DualPipe hides its steady-state sends behind the paired chunk (pipeline.hpp).
    tb.pp_comm = exposed_sends(l.schedule, p, v, mb) * w.pp_send_s;
  }

  if (detail::reduces_gradients(t, l))
    detail::dp_exposure(tb, w, c, t, l, layers_per_stage, mbd, mbd * crit.zero3);
  tb.optimizer = w.optimizer_s + w.offload_s;
  // A framework that all-reduces the loss over every rank at the end of each step, blocking
  // (parplan's runtime: world_sum in trainer.cpp, inside the step it times): one small
  // synchronising collective, its fixed cost and the late rank's wait (call_overhead_s).
  if (framework_behaviour(t).loss_all_reduce && l.gpus() > 1) {
    const int64_t n = l.gpus(), per_node = c.gpus_per_node > 0 ? std::min(n, c.gpus_per_node) : n;
    tb.launch_latency += collective_time(Collective::AllReduce, 8.0, Group{n, per_node, 1}, c);
  }

  r.step_time_s = tb.compute + tb.tp_comm + tb.cp_comm + tb.ep_comm + tb.launch_latency +
                  tb.pp_bubble + tb.pp_comm + tb.dp_comm_exposed + tb.optimizer;
  const double gpus = double(l.gpus());
  r.flops = step_flops(m, t, l);
  const double tokens = double(t.global_batch) * double(t.seq_len);
  r.tokens_per_s = tokens / r.step_time_s;
  r.model_tflops_per_gpu = r.flops.model / r.step_time_s / gpus / 1e12;
  r.hardware_tflops_per_gpu = r.flops.hardware / r.step_time_s / gpus / 1e12;
  const double peak = utilization_peak_flops(c.gpu, t);  // the GEMM dtype's peak (fp8.hpp)
  r.mfu = r.model_tflops_per_gpu * 1e12 / peak;
  r.hfu = r.hardware_tflops_per_gpu * 1e12 / peak;
  r.exposed_comm_fraction =
      (tb.tp_comm + tb.cp_comm + tb.ep_comm + tb.pp_comm + tb.dp_comm_exposed) / r.step_time_s;
  r.memory = memory ? *memory : memory_per_gpu(m, c, t, l);
  r.fits = r.memory.fits;
  return r;
}

StepCost predict(const Model& m, const Cluster& c, const Training& t, const Layout& l) {
  Diagnostics d;
  validate(m, d);
  validate(c, d);
  validate(t, d);
  if (d.ok()) validate(l, m, c, t, d);
  if (d.ok()) {
    const std::string why = precision_refusal(c.gpu, t);  // fp8.cpp
    if (!why.empty()) d.error("train.dtype", why);
  }
  d.throw_if_errors("input for predict");
  return predict_unchecked(m, c, t, l);
}

}  // namespace parplan::cost
