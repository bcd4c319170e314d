#pragma once
// The search's cost evaluator: memory first, then the step time of the layouts that fit, and the
// step-time lower bounds the search prunes with. Returns exactly what cost::memory_per_gpu and cost::predict_unchecked
// return (tests/planner/evaluator_test.cpp checks this on random layouts).
#include <algorithm>

#include "parplan/cost/compute.hpp"
#include "parplan/cost/context_parallel.hpp"
#include "parplan/cost/framework.hpp"
#include "parplan/cost/moe.hpp"
#include "parplan/cost/pipeline.hpp"
#include "parplan/cost/step.hpp"

namespace parplan::planner::detail {

class Evaluator {
 public:
  Evaluator(const Model& m, const Cluster& c, const Training& t) : m_(m), c_(c), t_(t) {}

  // Peak memory per GPU of `l`; no allocation.
  cost::MemoryBreakdown memory(const Layout& l, int stage = -1) const {
    return cost::memory_per_gpu(m_, c_, t_, l, stage);
  }
  // The full prediction of `l`; no allocation.
  cost::StepCost step(const Layout& l) const { return cost::predict_unchecked(m_, c_, t_, l); }
  // The same, reusing memory(l) the caller already has.
  cost::StepCost step(const Layout& l, const cost::MemoryBreakdown& mem) const {
    return cost::predict_unchecked(m_, c_, t_, l, &mem);
  }

  // Lower bounds of step(l').step_time_s for every layout l' of the search that shares (dp, tp,
  // pp, cp, cp_kind, ep, etp, micro_batch, recompute, sequence_parallel) with `l`, whatever its
  // zero, offload, shard group, tiles, schedule and v (docs/planner.md "Speed").
  // cost/src/step.cpp: step = compute + tp + cp + ep + bubble + pp + dp + optimizer, every term
  // >= 0, and compute = micro_batches * (stage_layers * (fwd + bwd + recompute) + embedding and/or
  // logits) on the critical stage, with stage_layers = max_stage_layers(layers, pp, v) >=
  // ceil(layers / pp) for every v.
  // layer_compute is taken at ZeRO 0 without tiles: ZeRO-3 re-casts FP8 weights every micro-batch
  // (fp8.cpp) and tiles split the GEMMs into smaller, slower ones (compute.cpp); nothing else in
  // it depends on the inner choices. tests/planner/evaluator_test.cpp checks every bound
  // against predict_unchecked on random layouts of a dense, an FP8 MoE and an MLA model.
  struct Bound {
    double step_s = 0;   // the step-time bound
    double layer_s = 0;  // one layer, one micro-batch: compute + exposed CP / EP communication
    double ends_min = 0, ends_max = 0;  // embedding / logits on the critical stage: at least, most
    double send_s = 0;   // one pipeline send (step.cpp pp_send_s: the split and micro-batch's)
  };
  // The bounds for recompute none, selective and full (indexed by Recompute; those not in
  // `wanted` are left as they are).
  void lower_bounds(const Layout& l, int64_t micro_batches, Bound out[3],
                    const bool wanted[3]) const {
    Layout b = l;
    b.zero = 0;
    b.offload = Offload::None;
    b.shard_group = 0;
    b.tiles = 1;
    b.schedule = Schedule::OneFOneB;
    b.virtual_stages = 1;
    const double emb = cost::embedding_time(m_, c_, t_, b), logits = cost::logits_time(m_, c_, t_, b);
    const double ends_min = l.pp == 1 ? emb + logits : std::min(emb, logits);
    const double ends_max = l.pp == 1 ? emb + logits : std::max(emb, logits);
    const int64_t stage_layers = (m_.layers + l.pp - 1) / l.pp;
    for (int i = 0; i < 3; ++i) {
      if (!wanted[i]) continue;
      b.recompute = Recompute(i);
      // The layer's work as step.cpp prices it (ZeRO 0, no offload: the TP, CP and host terms
      // below do not depend on those choices, nor on the schedule). Where the framework runs
      // DualPipe(V), whose chunks hide the all-to-all (pipeline.hpp), the overlapped exposure
      // (never above the plain one) bounds every schedule.
      Layout eb = b;
      if (fw_ep_overlap()) eb.schedule = Schedule::DualPipeV;
      const cost::StepWork w = cost::layer_work(m_, c_, t_, eb);
      const cost::LayerCompute& lc = w.layer;
      // Exposed TP, CP and EP communication per layer (step.cpp's stage terms), which overlaps
      // only compute: compute + exposed does not fall when ZeRO-3's casts, tiles or
      // recomputation add compute (TP overlap hides at most what the added GEMM time adds,
      // overlap.cpp tp_overlap), so ZeRO 0 without tiles bounds them all. The TP collectives are
      // the ones a layer cannot avoid: their count and bytes are fixed by tp, SP and
      // recomputation.
      const double comm = w.tp_exposed_s + w.cp_fwd_exposed_s + w.cp_bwd_exposed_s +
                          w.ep_fwd_exposed_s + w.ep_bwd_exposed_s;
      Bound& r = out[i];
      // step.cpp stage_time: a layer costs the larger of its device time and the host time to
      // issue its kernels and collective calls (tiles only add kernels).
      r.layer_s = std::max(lc.fwd_s + lc.bwd_s + lc.recompute_s + comm, w.layer_host_s);
      r.step_s = kSafety * double(micro_batches) * (double(stage_layers) * r.layer_s + ends_min);
      r.ends_min = ends_min;
      r.ends_max = ends_max;
      r.send_s = w.pp_send_s;
    }
  }
  Bound lower_bound(const Layout& l, int64_t micro_batches) const {
    Bound out[3];
    bool wanted[3] = {false, false, false};
    wanted[size_t(l.recompute)] = true;
    lower_bounds(l, micro_batches, out, wanted);
    return out[size_t(l.recompute)];
  }
  // Tighter bounds learned from one prediction `sc` of layout `l` (docs/planner.md "Speed"), for
  // every layout of its block with the same ZeRO class (zero >= 3 or not: FP8 weight casts,
  // fp8.cpp) and tiles (compute.cpp), whatever its schedule, v, offload and shard group.
  // cost/src/step.cpp: the critical stage's compute + exposed TP / CP / EP communication is
  // stage_layers x X + its embedding and/or logits, X one layer's compute and exposed
  // communication; so X >= (that sum / micro-batches - the larger end) / stage_layers.
  // Pipeline sends are (2 v m + 2 (p - 1)) x one send, the same send for the whole block.
  struct Learned {
    double x = 0;     // one layer's compute + exposed TP/CP/EP communication, at least
    double send = 0;  // one pipeline send
  };
  Learned learn(const cost::StepCost& sc, const Layout& l, const Bound& b) const {
    const cost::TimeBreakdown& tb = sc.time;
    const double m = double(sc.micro_batches);
    const double sum = tb.compute + tb.tp_comm + tb.cp_comm + tb.ep_comm + tb.launch_latency;
    const double stage = double(cost::max_stage_layers(m_.layers, l.pp, cost::layer_chunks(l)));
    Learned r;
    r.x = std::max(b.layer_s, (sum / m - b.ends_max) / stage);
    if (l.pp > 1) {
      r.send = tb.pp_comm /
               cost::exposed_sends(l.schedule, l.pp, l.virtual_stages, sc.micro_batches);
    }
    return r;
  }
  // The step-time bound of schedule (s, v) from what was learned: stage_layers x X + the smaller
  // end per micro-batch, the sends, the bubble (a fraction of the average stage, >= layers / pp
  // x X) and `optimizer`: the optimizer and offload time of a v = 1 prediction of the same zero,
  // offload and shard group (0 otherwise): it grows with the stage's parameters, so with v.
  double learned_bound(const Learned& e, const Bound& b, int32_t pp, Schedule s, int32_t v,
                       int64_t micro_batches, double optimizer) const {
    const double m = double(micro_batches);
    Layout sl;
    sl.schedule = s;
    sl.virtual_stages = v;
    const double stage = double(cost::max_stage_layers(m_.layers, pp, cost::layer_chunks(sl)));
    const double sends = pp > 1 ? cost::exposed_sends(s, pp, v, micro_batches) * e.send : 0.0;
    // The W-split schedules' bubble depends on the pass shares: bounded by 0.
    const double bubble = pp > 1 && !cost::splits_weight_grad(s)
                              ? cost::bubble_fraction(s, pp, v, micro_batches) * m *
                                    (double(m_.layers) / double(pp) * e.x)
                              : 0.0;
    return kSafety * (m * (stage * e.x + b.ends_min) + sends + bubble + optimizer);
  }
  // The bubble's share of the block bound for one schedule (from the block's per-layer bound).
  double bubble_bound(const Bound& b, Schedule s, int32_t pp, int32_t v,
                      int64_t micro_batches) const {
    if (pp <= 1 || cost::splits_weight_grad(s)) return 0.0;
    return kSafety * cost::bubble_fraction(s, pp, v, micro_batches) * double(micro_batches) *
           (double(m_.layers) / double(pp) * b.layer_s);
  }
  // Rounding: the bounds are summed in another order than step.cpp sums the prediction; this
  // margin (far above double rounding, far below any difference between layouts) keeps them
  // below it.
  static constexpr double kSafety = 1.0 - 1e-9;

  // Whether the training's framework runs a schedule that hides the expert all-to-all.
  bool fw_ep_overlap() const {
    const cost::FrameworkBehaviour& fw = cost::framework_behaviour(t_);
    return fw.runs(Schedule::DualPipe) || fw.runs(Schedule::DualPipeV);
  }

 private:
  const Model& m_;
  const Cluster& c_;
  const Training& t_;
};

}  // namespace parplan::planner::detail
