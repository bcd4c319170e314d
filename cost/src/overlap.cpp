#include "overlap.hpp"

#include <algorithm>
#include <cmath>

#include "parplan/cost/fp8.hpp"
#include "parplan/cost/framework.hpp"
#include "parplan/cost/pipeline.hpp"
#include "parplan/cost/sharding.hpp"

namespace parplan::cost::detail {

bool reduces_gradients(const Training& t, const Layout& l) {
  return l.dp > 1 || states_over_cp(t, l);
}

void dp_work(StepWork& w, const Model& m, const Cluster& c, const Training& t, const Layout& l,
             double n_local, double layer_params) {
  const FrameworkBehaviour& fw = framework_behaviour(t);
  const StateBytes sb = state_bytes_per_param(t);
  // HSDP (sharding.hpp): reduce-scatter and gathers inside the shard group, the gradient shard
  // all-reduced across groups; without it the shard group is the DP group and no replica exists.
  // Where the framework reduces over DP x CP (CP ranks hold partial sums of every weight's
  // gradient), the all-reduce, or ZeRO's reduce-scatter and all-gather, span that group, its
  // ranks tp apart (sharding.hpp states_over_cp).
  const ShardGroups sg = shard_groups(l, c, t);
  const Group dp = sg.shard;
  // Rajbhandari et al. 2020 sec. 7: stages 1-2 move 2 Psi like an all-reduce, stage 3 3 Psi.
  const Algorithm algo = fw.dp_flat_ring ? Algorithm::Ring : Algorithm::Auto;
  const double reduce_elem = fw.grad_reduce_bytes > 0 ? fw.grad_reduce_bytes : sb.grads;
  const double layers = double(stage_layers(m, l, 0));  // stage 0, as n_local and layer_params
  w.dp_grad_bytes = n_local * reduce_elem;
  // FP8 primary weights travel in FP8 (fp8.cpp).
  w.dp_param_bytes =
      layer_params * param_gather_bytes_per_param(t) + (n_local - layer_params) * sb.params;
  const Collective op = l.zero == 0 ? Collective::AllReduce : Collective::ReduceScatter;
  // Gradient buckets (DDP, Megatron, DeepSpeed) or one reduce-scatter per FSDP unit (layer).
  // A framework may reduce per layer from some ZeRO stage on (the runtime's ZeRO-2/3: one
  // reduce-scatter per layer unit, framework.hpp grad_per_layer_from_zero).
  const bool per_layer = fw.grad_per_layer_from_zero > 0 && l.zero >= fw.grad_per_layer_from_zero;
  // Its units besides the layers (embedding, head) are on the first and last stage.
  const double extra = per_layer ? std::ceil(double(fw.grad_units_besides_layers) / (l.pp > 1 ? 2.0 : 1.0)) : 0.0;
  const double units =
      std::max(1.0, fw.grad_bucket_elements > 0 && !per_layer
                        ? std::ceil(n_local / fw.grad_bucket_elements)
                        : layers + extra);
  w.dp_bucket_s = collective_time(op, w.dp_grad_bytes / units, dp, c, algo) +
                  collective_time(Collective::AllReduce,
                                  w.dp_grad_bytes / units / double(sg.shard.size), sg.replica, c);
  w.dp_reduce_s = units * w.dp_bucket_s;
  if (l.zero == 1 || l.zero == 2)
    w.dp_param_gather_s = collective_time(Collective::AllGather, w.dp_param_bytes, dp, c, algo);
  if (l.zero < 3) return;
  // ZeRO-3 / FSDP: one all-gather per gather unit of each layer, in forward and (parameters freed
  // after forward) again in backward, prefetched on their own stream; the gradient
  // reduce-scatter shares the backward window and the DP links.
  const int g = std::max(1, fw.zero3_gathers_per_layer);
  w.zero3_gathers_per_layer = g;
  w.zero3_gather_once = l.pp > 1 && fw.zero3_gather_once_with_pp;
  // Memory-centric tiling gathers each unit one tile at a time (tiles x the latency).
  const double layer_bytes = layer_params / layers * param_gather_bytes_per_param(t);
  const double pieces = double(g) * double(l.tiles);
  w.zero3_layer_gather_s =
      pieces * collective_time(Collective::AllGather, layer_bytes / pieces, dp, c, algo);
  const double unit_params = layer_params / layers / g;
  const bool prefetch = fw.zero3_prefetch_depth > 0 && (fw.zero3_prefetch_elements <= 0 ||
                                                        unit_params <= fw.zero3_prefetch_elements);
  const bool rs_hidden = resolve(t.overlap_grad_reduce, fw.zero3_overlap_grad_reduce);
  const LayerCompute& lc = w.layer;
  const double gather_b = fw.zero3_regather_in_backward ? w.zero3_layer_gather_s : 0.0;
  const double rs = rs_hidden ? w.dp_reduce_s / layers : 0.0;  // this layer's reduce-scatter
  const double bwd = lc.bwd_s + lc.recompute_s;
  // Prefetched gathers hide behind the previous unit's compute; without prefetch a gather runs
  // before its module, and only the reduce-scatter (its own stream) overlaps the backward.
  w.zero3_fwd_exposed_s = prefetch ? std::max(0.0, w.zero3_layer_gather_s - lc.fwd_s)
                                   : w.zero3_layer_gather_s;
  w.zero3_bwd_exposed_s =
      prefetch ? std::max(0.0, gather_b + rs - bwd) : gather_b + std::max(0.0, rs - bwd);
}

void tp_overlap(StepWork& w, const Cluster& c, const Training& t, const Layout& l) {
  const double total = double(w.tp_fwd_collectives + w.tp_bwd_collectives) * w.tp_collective_s;
  w.tp_exposed_s = total;
  if (l.tp <= 1 || !resolve(t.tp_comm_overlap, framework_behaviour(t).tp_comm_overlap)) return;
  w.tp_hidden = true;
  // Megatron --tp-comm-overlap (Transformer Engine userbuffers) and torchtitan's async TP split
  // the GEMM next to each TP collective into chunks, so the collective of one chunk runs during
  // the GEMM of the next (Wang et al. 2023, "Overlap communication with dependent computation").
  // Only the linear GEMMs next to the collectives can hide them (not the attention core); what
  // outlasts them shows, and the hidden part still slows them (overlap_slowdown). Forward (and its
  // recomputation) and backward are separate windows; a framework that micro-pipelines only the
  // forward graph (torchtitan async TP) leaves the backward collectives exposed.
  const FrameworkBehaviour& fw = framework_behaviour(t);
  const LayerCompute& lc = w.layer;
  const bool full = l.recompute == Recompute::Full;
  const double fwd_comm = double(w.tp_fwd_collectives * (full ? 2 : 1)) * w.tp_collective_s;
  const double bwd_comm = std::max(0.0, total - fwd_comm);
  const double fwd_gemm = lc.fwd_linear_s * (full ? 2.0 : 1.0), bwd_gemm = 2.0 * lc.fwd_linear_s;
  const double slow = c.efficiency.overlap_slowdown;
  auto hide = [slow](double comm, double gemm) {
    return std::max(0.0, comm - gemm) + slow * std::min(comm, gemm);
  };
  w.tp_exposed_s = hide(fwd_comm, fwd_gemm) + (fw.tp_overlap_backward ? hide(bwd_comm, bwd_gemm)
                                                                       : bwd_comm);
}

void dp_exposure(TimeBreakdown& tb, const StepWork& w, const Cluster& c, const Training& t,
                 const Layout& l, int64_t layers_per_stage, double mbd, double zero3_exposed) {
  const FrameworkBehaviour& fw = framework_behaviour(t);
  const bool ovl_reduce = resolve(t.overlap_grad_reduce, fw.overlap_grad_reduce);
  const bool ovl_gather = resolve(t.overlap_param_gather, fw.overlap_param_gather);
  const double L = double(layers_per_stage);
  const double bwd_window = L * (w.layer.bwd_s + w.layer.recompute_s);
  const double fwd_window = L * w.layer.fwd_s;
  // Overlapped: only what outlasts its compute window shows (plus the last bucket, reduced after
  // the backward ends); not overlapped: all of it, after the backward.
  auto shown = [](bool overlap, double comm, double window, double tail) {
    return overlap ? std::max(0.0, comm - window) + tail : comm;
  };
  double exposed = 0, total = 0;
  if (l.zero >= 3 && w.zero3_gather_once) {
    // Gathered in the first micro-batch's forward and kept; one reduce-scatter of the stage's
    // gradients during the last backward.
    const bool rs_hidden = resolve(t.overlap_grad_reduce, fw.zero3_overlap_grad_reduce);
    exposed += L * w.zero3_fwd_exposed_s + shown(rs_hidden, w.dp_reduce_s, bwd_window, w.dp_bucket_s);
    total += w.dp_reduce_s + L * w.zero3_layer_gather_s;
  } else if (l.zero >= 3) {
    const bool rs_hidden = resolve(t.overlap_grad_reduce, fw.zero3_overlap_grad_reduce);
    exposed += zero3_exposed + (rs_hidden ? w.dp_bucket_s : mbd * w.dp_reduce_s);
    total += mbd * (w.dp_reduce_s +
                    L * (fw.zero3_regather_in_backward ? 2.0 : 1.0) * w.zero3_layer_gather_s);
  } else if (l.zero == 2) {
    // ZeRO-2 keeps only a gradient shard: reduce-scatter after every micro-batch.
    exposed += mbd * shown(ovl_reduce, w.dp_reduce_s, bwd_window, w.dp_bucket_s);
    total += mbd * w.dp_reduce_s;
  } else {
    exposed += shown(ovl_reduce, w.dp_reduce_s, bwd_window, w.dp_bucket_s);
    total += w.dp_reduce_s;
  }
  // ZeRO-1/2: the updated parameters' all-gather, overlapped with the next step's first forward.
  exposed += shown(ovl_gather, w.dp_param_gather_s, fwd_window, 0.0);
  total += w.dp_param_gather_s;
  exposed = std::min(exposed, total);
  // What hides behind compute still slows it by the overlap_slowdown share.
  exposed += c.efficiency.overlap_slowdown * std::max(0.0, total - exposed);
  // Each collective the DP communication thread issues while compute runs costs, on a host whose
  // cores the compute threads fill, intra_node.call_overhead_us.concurrent on top (measured by
  // `parplan calibrate`, docs/runtime.md; 0 on GPU clusters, whose collectives run on the NIC/SMs).
  if (const double conc = c.intra.call_overhead_s.concurrent; conc > 0) {
    const double g = double(w.zero3_gathers_per_layer), gather = w.dp_param_gather_s > 0 ? 1.0 : 0.0;
    // Gradient reductions per pass (buckets or FSDP units): dp_reduce_s is that many buckets.
    const double units = w.dp_bucket_s > 0 ? std::round(w.dp_reduce_s / w.dp_bucket_s) : 1.0;
    double calls = units + gather;
    if (l.zero >= 3 && w.zero3_gather_once) calls = units + L * g;
    else if (l.zero >= 3) calls = mbd * (units + L * g * (fw.zero3_regather_in_backward ? 2.0 : 1.0));
    else if (l.zero == 2) calls = mbd * units + gather;
    exposed += conc * calls;
    total += conc * calls;
  }
  tb.dp_comm_exposed = exposed;
  tb.dp_comm_total = total;
}

}  // namespace parplan::cost::detail
