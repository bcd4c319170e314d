#include "parplan/cost/memory.hpp"

#include <algorithm>

#include "parplan/cost/attention.hpp"
#include "parplan/cost/context_parallel.hpp"
#include "parplan/cost/fp8.hpp"
#include "parplan/cost/framework.hpp"
#include "parplan/cost/moe.hpp"
#include "parplan/cost/pipeline.hpp"
#include "parplan/cost/sharding.hpp"
#include "stage_params.hpp"

namespace parplan::cost {

StateBytes state_bytes_per_param(const Training& t) {
  // Rajbhandari et al. 2020 sec. 3.1: mixed-precision Adam keeps 2 (fp16 params) + 2 (fp16
  // grads) + 12 (fp32 params, momentum, variance) bytes per parameter; Megatron-LM's fp32
  // main_grad accumulation makes the gradients 4 bytes.
  StateBytes b{};
  if (t.mixed_precision()) {
    b.params = 2;
    b.grads = t.fp32_grad_accum ? 4 : 2;
    b.optimizer = t.optimizer == Optimizer::Adam ? 12 : 8;  // fp32 master (+ m, v | momentum)
  } else {
    b.params = 4;
    b.grads = 4;
    b.optimizer = t.optimizer == Optimizer::Adam ? 8 : 4;
  }
  return b;
}

double layer_activation_bytes(const Model& m, const Training& t, const Layout& l) {
  // Korthikanti et al. 2022, sec. 4.1 (eq. 1) per layer, generalised: sbh * (34 + 5 a s / h)
  // bytes with 16-bit activations; TP divides the attention/MLP part (eq. 2), SP the rest (eq. 4),
  // selective recomputation drops the 5 a s^2 b score terms (eq. 6), full keeps 2 s b h (sec. 5).
  const double e = t.element_bytes();
  const double s = double(t.seq_len) / double(l.cp);
  const double b = double(l.micro_batch);
  const double h = double(m.hidden), f = double(m.ffn_hidden);
  const double tp = double(l.tp);
  const double sbh = s * b * h;
  const double sp_div = l.sequence_parallel ? tp : 1.0;
  if (l.recompute == Recompute::Full) return e * sbh / sp_div;  // layer input only
  const AttentionShape a = attention_shape(m);
  // What the framework's layer keeps (framework.hpp Saved; Megatron-LM's fused layer by default).
  const FrameworkBehaviour& fw = framework_behaviour(t);
  const FrameworkBehaviour::Saved& kept = fw.saved;
  const uint8_t rc = recomputed_modules(l);
  // Replicated under TP: two LayerNorm inputs, QKV and MLP inputs (2 bytes each), two dropout
  // masks; MLA's compressed latents (its down-projections are not split).
  const double per_norm = m.norm == Norm::RMSNorm ? kept.rmsnorm : kept.layernorm;
  const double replicated = sbh * (2 * per_norm * e + kept.stream_mask_bytes) + s * b * e * a.latent;
  // Split by TP: Q, K, V, attention-projection input (an eager GQA keeps K and V expanded to the
  // query heads, an eager rotary copies of Q and K); FC1 output (two for gated), activation output.
  const bool expanded = kept.repeat_kv && !m.mla.enabled() && m.kv_heads > 0 && m.kv_heads < m.heads;
  const double rope = m.position == Position::Rotary ? kept.rope_extra * (a.q + a.k) : 0.0;
  const double qkv = a.q + (expanded ? a.q : a.k) + (expanded ? a.o_in : a.v) + rope;
  const double attn = s * b * e * (qkv + a.o_in);
  const double mlp = sbh * e * (m.gated_mlp ? kept.gated_mlp : kept.mlp) * f / h;
  // MoE layers keep their routed rows instead of the dense MLP's (moe.cpp); the average layer.
  const double moe_share = m.moe_layer_share();
  const double sharded = attn + (1 - moe_share) * mlp;
  const double moe = moe_share * moe_mlp_activation_bytes(m, t, l);
  double scores = 0;
  if (!t.flash_attention && !(rc & kRecomputeCoreAttn))  // softmax out, dropout mask, output
    scores = (kept.scores_elements * e + kept.scores_mask_bytes) * double(m.heads) * s *
             attended_keys(m, s) * b;
  // FP8 (fp8.cpp): the QKV and FC1 inputs (replicated) and the projection and FC2 inputs (split
  // by TP) are saved as their FP8 copies instead of 16-bit.
  const double in = saved_gemm_input_bytes(t);
  const double fp8_saved =
      t.fp8() ? (e - in) * (2 * sbh / sp_div + (s * b * a.o_in + (1 - moe_share) * sbh * f / h) / tp)
              : 0.0;
  // Megatron-Core's per-module recomputation (Layout::recompute_modules; Megatron-LM@b0cc270)
  // frees what the recomputed piece kept: a module checkpointed "without output"
  // (tensor_parallel.CheckpointWithoutOutput, discard_output_and_register_recompute) frees its
  // output, which the next GEMM saved (under FP8 that GEMM saves the original input instead of
  // its FP8 copy, set_save_original_input, so nothing of it stays); a normally checkpointed one
  // (tensor_parallel.checkpoint) keeps only its input.
  double freed = 0;
  if (rc & kRecomputeLayernorm) {
    // transformer_layer.py l.383-438: the input_layernorm and pre_mlp_layernorm outputs, where
    // they are modules of their own: gpt_layer_specs.py l.248, l.265 / l.291 (TE spec) builds a TENorm
    // before MLA's down-projections and before a MoE layer's router and experts; elsewhere the
    // norm is fused into linear_qkv / linear_fc1 (TELayerNormColumnParallelLinear, IdentityOp)
    // and nothing is recomputed. The QKV / FC1 input above is that output.
    const double norms = (m.mla.enabled() ? 1.0 : 0.0) + moe_share;
    freed += norms * in * sbh / sp_div;
  }
  if ((rc & kRecomputeMlaUpProj) && m.mla.enabled())
    // multi_latent_attention.py l.838-843 (qkv_up_checkpoint over qkv_up_proj_and_rope_apply),
    // l.344-346 (discarded after core attention): the up-projected, RoPE-applied Q, K, V the
    // attention kernel saved; its inputs, the normed latents, stay (the checkpoint's inputs).
    freed += s * b * e * qkv / tp;
  if (rc & kRecomputeMlp)
    // transformer_layer.py l.445-447 / l.719-735: the dense (non-MoE) layers' MLP under
    // tensor_parallel.checkpoint keeps only its input (the residual stream, the norm being fused
    // into linear_fc1 under TE): the FC1 input, FC1 output(s) and activation output go.
    freed += (1 - moe_share) * (in * sbh / sp_div + (mlp - (t.fp8() ? (e - in) * sbh * f / h : 0.0)) / tp);
  return replicated / sp_div + sharded / tp + moe + scores / tp - fp8_saved - freed;
}

double in_flight_microbatches(const Layout& l, int64_t micro_batches, int stage,
                              bool a2a_overlap) {
  // Per schedule (pipeline.hpp in_flight_stages); one more with the all-to-all overlap across
  // micro-batches (Megatron-Core overlap_moe_expert_parallel_comm, moe.hpp).
  return in_flight_stages(l.schedule, l.pp, l.virtual_stages, micro_batches, stage, a2a_overlap);
}

double offloaded_activation_layers(const Layout& l, double stage_layers) {
  return std::min(double(l.activation_offload_layers), std::max(0.0, stage_layers - 1.0));
}

namespace {
MemoryBreakdown stage_memory(const Model& m, const Cluster& c, const Training& t, const Layout& l,
                             int stage) {
  MemoryBreakdown r;
  r.stage = stage;
  r.capacity = c.gpu.memory_bytes;
  const detail::StageParams sp = detail::gpu_params(m, l, stage);
  const double n = sp.total();
  r.layer_params = sp.layers;
  const StateBytes b = state_bytes_per_param(t);
  // Rajbhandari et al. 2020, fig. 1: stage 1 shards optimizer states, 2 also gradients, 3 also
  // parameters, over the data-parallel group, or with HSDP over its shard group, each times cp
  // where the framework shards over DP x CP (sharding.hpp shard_ranks). Routed experts shard over
  // the expert-data-parallel group instead (Megatron-Core MoE).
  const double dp = double(shard_ranks(t, l));
  const double ne = sp.experts, nd = n - ne, edp = detail::expert_dp(l);
  auto part = [&](double per_param, int from_stage) {
    return l.zero >= from_stage ? nd * per_param / dp + ne * per_param / edp
                                : n * per_param;
  };
  double params = part(b.params, 3), grads = part(b.grads, 2), opt = part(b.optimizer, 1);
  // FP8 (fp8.cpp): primary layer weights in FP8 with fp8_param_gather; FP8 (+ transposed) copies
  // of the resident layers' weights cached across micro-batches.
  const double layer_w = fp8_param_gather(t) ? 1.0 : b.params, copies = fp8_weight_copy_bytes(t);
  params *= 1.0 - sp.layers / n * (b.params - layer_w) / b.params;
  // ZeRO-3 gathers layers on use (buffers below); without sharding they stay resident.
  const bool gathers = l.zero >= 3 && (dp > 1 || l.offload == Offload::OptimizerAndParams);
  if (!gathers) params += sp.layers * copies;
  if (l.offload != Offload::None) {  // ZeRO-Offload (Ren et al. 2021): grads + optimizer on CPU
    r.cpu_offload += opt + grads;
    opt = 0;
    grads = 0;
  }
  if (l.offload == Offload::OptimizerAndParams) {  // ZeRO-Infinity: parameters on CPU too
    r.cpu_offload += params;
    params = 0;
  }
  r.params = params;
  r.grads = grads;
  r.optimizer = opt;

  const int64_t mb_count = micro_batches(t, l);
  // DualPipe: a stage of each direction, p + 1 micro-batches over both (pipeline.hpp).
  const bool dual = l.schedule == Schedule::DualPipe && l.pp > 1;
  const int mirror = l.pp - 1 - stage;
  const double layers_on_stage =
      dual ? 0.5 * double(stage_layers(m, l, stage) + stage_layers(m, l, mirror))
           : double(stage_layers(m, l, stage));
  const bool holds_first = stage == 0 || (dual && mirror == 0);
  const bool holds_last = stage == l.pp - 1 || (dual && mirror == l.pp - 1);
  const double per_layer = layer_activation_bytes(m, t, l);
  // DualPipe's PP + 1 already holds the overlapped micro-batch (pipeline.hpp).
  const bool a2a_extra = moe_a2a_overlapped(t) && l.ep > 1 && !overlaps_ep_comm(l.schedule);
  const double in_flight = in_flight_microbatches(l, mb_count, stage, a2a_extra);
  // Activation offloading (Transformer Engine cpu_offload.py AsyncDoubleBufferGroupOffloadHandler,
  // as Megatron-Core's cpu_offloading_num_layers runs it): the offloaded layers' activations go to
  // host memory after their forward and are prefetched one layer ahead in backward, so of them one
  // layer's is on the GPU at a time (the one being copied); the copies run on their own stream,
  // priced in step.cpp where they outlast the other layers' compute.
  const double offloaded = offloaded_activation_layers(l, layers_on_stage);
  const double resident_layers = layers_on_stage - offloaded + (offloaded > 0 ? 1.0 : 0.0);
  r.layer_activations = per_layer * resident_layers * in_flight;
  const double activations_on_host = per_layer * offloaded * in_flight;
  r.cpu_offload += activations_on_host;
  const double e = t.element_bytes();
  const double s = double(t.seq_len) / double(l.cp);
  const double sbh = s * double(l.micro_batch) * double(m.hidden);
  const double sp_div = l.sequence_parallel ? double(l.tp) : 1.0;
  double extra = 0;
  if (holds_first) extra += in_flight * sbh * (e + 1) / sp_div;  // embedding output + dropout mask
  if (l.recompute == Recompute::Full) {
    // The layer being recomputed holds its full activations during its backward.
    Layout none = l;
    none.recompute = Recompute::None;
    extra += layer_activation_bytes(m, t, none);
  }
  r.activations = r.layer_activations + extra;

  // Buffers: the logits + their gradient on the last stage (framework.hpp Saved::logits: fp32 of
  // the vocab-parallel cross-entropy by default),
  // pipeline send/receive buffers, the TP all-gather output under SP, ZeRO-2/3 layer gradient
  // buffers, ZeRO-3 gathered layers (current + prefetched). ZeRO 0/1 reduce buckets that are views
  // of the contiguous gradient buffer (Megatron-core ParamAndGradBuffer, DDP
  // gradient_as_bucket_view; parplan's runtime): nothing beyond `grads`. ZeRO 2/3 (DeepSpeed,
  // parplan's runtime) produce a layer's gradients into a buffer that is reduce-scattered into the
  // shard when the layer is done: one layer being produced while the previous one is in flight.
  double buffers = 0;
  if (holds_last)
    buffers += framework_behaviour(t).saved.logits * s * double(l.micro_batch) * double(m.vocab) / l.tp;
  if (l.pp > 1) buffers += 2.0 * e * sbh / double(l.tp);
  if (l.sequence_parallel) buffers += e * sbh;
  const double layer_params = count_params(m).per_layer / double(l.tp);
  if (dp > 1 && l.zero >= 2) buffers += 2.0 * layer_params * b.grads;
  if (gathers) {
    // Memory-centric tiling (ZeRO-Infinity sec. 5): a layer's parameters are gathered one tile at
    // a time, so the working set is divided by the tile count.
    r.gathered_layers = 2.0 * layer_params * (layer_w + copies) / double(l.tiles);
    // Gathered once per step under PP (framework.hpp): every layer of the stage stays unsharded,
    // with its unsharded gradient accumulating until the last backward.
    if (l.pp > 1 && framework_behaviour(t).zero3_gather_once_with_pp)
      r.gathered_layers = sp.layers * (layer_w + copies + b.grads);
    buffers += r.gathered_layers;
  }
  // Ulysses / USP: the head-sharded Q, K, V, O the all-to-all writes (context_parallel.cpp).
  if (l.cp > 1 && l.cp_kind != CpKind::Ring) buffers += ulysses_buffer_bytes(m, c, t, l);
  r.buffers = buffers;
  r.reserve = c.efficiency.memory_reserve * c.gpu.memory_bytes;
  r.total = r.params + r.grads + r.optimizer + r.activations + r.buffers + r.reserve;
  r.fits = r.total <= r.capacity;
  if (r.cpu_offload > 0) {
    // Every GPU of a node offloads its share to the same host (ZeRO-Offload: host RAM;
    // ZeRO-Infinity with offload_device nvme: the node's NVMe). Pinned staging buffers are
    // not counted.
    const double on_node = double(std::min<int64_t>(l.gpus(), std::max<int64_t>(1, c.gpus_per_node)));
    // ZeRO's states go where offload_device says; offloaded activations always to host RAM.
    const bool nvme = l.offload_device == OffloadDevice::Nvme;
    const double states = r.cpu_offload - activations_on_host;
    r.host_per_node = ((nvme ? 0.0 : states) + activations_on_host) * on_node;
    r.nvme_per_node = nvme ? states * on_node : 0.0;
    r.host_capacity = c.host.memory_bytes;
    r.nvme_capacity = c.host.nvme_bytes;
    r.fits_host = !(r.host_capacity > 0) || r.host_per_node <= r.host_capacity;
    if (nvme && states > 0)  // NVMe offload with no NVMe in the cluster file: nothing to put it on
      r.fits_host = r.fits_host && r.nvme_capacity > 0 && r.nvme_per_node <= r.nvme_capacity;
    r.fits = r.fits && r.fits_host;
  }
  return r;
}
}  // namespace

MemoryBreakdown memory_per_gpu(const Model& m, const Cluster& c, const Training& t, const Layout& l,
                               int stage) {
  if (stage >= 0) return stage_memory(m, c, t, l, std::min(stage, l.pp - 1));
  MemoryBreakdown best = stage_memory(m, c, t, l, 0);
  if (l.pp > 1) {
    MemoryBreakdown last = stage_memory(m, c, t, l, l.pp - 1);
    if (last.total > best.total) best = last;
  }
  if (l.pp > 2 && (l.first_stage_layers > 0 || l.last_stage_layers > 0)) {
    MemoryBreakdown middle = stage_memory(m, c, t, l, 1);  // uneven stages: a middle one may peak
    if (middle.total > best.total) best = middle;
  }
  return best;
}

int32_t tiles_to_fit(const MemoryBreakdown& untiled) {
  const double g = untiled.gathered_layers, excess = untiled.total - untiled.capacity;
  if (excess <= 0 || g <= excess) return 1;
  for (int32_t k = std::max(2, int32_t(g / (g - excess))); k <= kMaxTiles; ++k)
    if (untiled.total - g + g / double(k) <= untiled.capacity) return k;
  return 1;
}

}  // namespace parplan::cost
