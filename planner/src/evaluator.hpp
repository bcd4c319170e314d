#pragma once
// The search's cost evaluator: memory first (cheap, prunes most layouts), then the step time of
// the layouts that fit. Returns exactly what cost::memory_per_gpu and cost::predict_unchecked
// return (tests/planner/evaluator_test.cpp checks this on random layouts).
#include "parplan/cost/step.hpp"

namespace parplan::planner::detail {

class Evaluator {
 public:
  Evaluator(const Model& m, const Cluster& c, const Training& t) : m_(m), c_(c), t_(t) {}

  // Peak memory per GPU of `l`; no allocation.
  cost::MemoryBreakdown memory(const Layout& l) const {
    return cost::memory_per_gpu(m_, c_, t_, l);
  }
  // The full prediction of `l`; no allocation.
  cost::StepCost step(const Layout& l) const { return cost::predict_unchecked(m_, c_, t_, l); }
  // The same, reusing memory(l) the caller already has.
  cost::StepCost step(const Layout& l, const cost::MemoryBreakdown& mem) const {
    return cost::predict_unchecked(m_, c_, t_, l, &mem);
  }

  // A lower bound of step(l).step_time_s that holds for every zero, offload, schedule and v with
  // the same (dp, tp, pp, cp, micro_batch, recompute, sequence_parallel): the critical stage runs
  // at least floor(layers / pp) layers' forward + backward + recomputation for every micro-batch
  // (cost/src/step.cpp: compute = m * (L * (fwd + bwd + recompute) + embedding/logits), every
  // other term >= 0). Floating-point rounding is monotone, so the bound holds bit for bit.
  double step_lower_bound(const Layout& l, int64_t micro_batches) const {
    const cost::LayerCompute lc = cost::layer_compute(m_, c_, t_, l);
    const double layers = double(m_.layers / l.pp);
    return double(micro_batches) * (layers * (lc.fwd_s + lc.bwd_s + lc.recompute_s));
  }

 private:
  const Model& m_;
  const Cluster& c_;
  const Training& t_;
};

}  // namespace parplan::planner::detail
