#pragma once
// What a prediction assumed beyond the layout: the framework, which communication overlaps with
// compute, the attention kernel, the dtype of gradients. `parplan predict` lists them under the
// table; the exports emit the flags that make the framework do the same.
#include <string>
#include <vector>

#include "parplan/model/plan.hpp"

namespace parplan::planner {

// The overlap switches as the cost model applied them (cost/src/overlap.cpp): train.* switches,
// Default resolved by the framework's behaviour file (examples/frameworks/<name>.json; ZeRO-3's
// gradient reduce-scatter by its zero3.overlap_grad_reduce).
struct Overlap {
  bool grad_reduce = false;
  bool param_gather = false;
  bool tp_comm = false;
  bool grad_reduce_default = true, param_gather_default = true, tp_comm_default = true;
};
Overlap resolved_overlap(const Training& t, const Layout& l);

struct Assumption {
  std::string name;   // "framework", "overlap_grad_reduce", ...
  std::string value;  // "megatron-core", "on", ...
  std::string why;    // "train.framework", "framework default (train.overlap_grad_reduce unset)"
};
std::vector<Assumption> prediction_assumptions(const Model& m, const Training& t, const Layout& l);

}  // namespace parplan::planner
