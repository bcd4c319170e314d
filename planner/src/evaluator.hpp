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

 private:
  const Model& m_;
  const Cluster& c_;
  const Training& t_;
};

}  // namespace parplan::planner::detail
