#pragma once
// What a prediction assumed beyond the layout: the framework, which communication overlaps with
// compute, the attention kernel, the dtype of gradients. `parplan predict` lists them under the
// table; the exports emit the flags that make the framework do the same.
#include <string>
#include <vector>

#include "parplan/model/plan.hpp"

namespace parplan::planner {

// The overlap switches as the cost model applied them (train.* switches; Default resolved to the
// behaviour the cost model prices: gradient reduce-scatter/all-reduce hidden behind backward, the
// ZeRO parameter all-gather behind the next forward, TP collectives exposed).
struct Overlap {
  bool grad_reduce = true;
  bool param_gather = true;
  bool tp_comm = false;
  bool grad_reduce_default = true, param_gather_default = true, tp_comm_default = true;
};
Overlap resolved_overlap(const Training& t);

struct Assumption {
  std::string name;   // "framework", "overlap_grad_reduce", ...
  std::string value;  // "megatron-core", "on", ...
  std::string why;    // "train.framework", "framework default (train.overlap_grad_reduce unset)"
};
std::vector<Assumption> prediction_assumptions(const Model& m, const Training& t, const Layout& l);

}  // namespace parplan::planner
