#pragma once
// The order in which one pipeline stage runs its forward and backward passes (internal to sim/).
#include <vector>

#include "parplan/model/layout.hpp"

namespace parplan::sim::detail {

struct PipeOp {
  bool forward = true;
  int microbatch = 0;
  int chunk = 0;  // model chunk (virtual stage) on this GPU
};

// GPipe: all forwards then all backwards (Huang et al. 2019). 1F1B: p - stage - 1 warm-up
// forwards, then one forward one backward (Narayanan et al. 2021). Interleaved: Megatron-LM's
// virtual-pipeline order (forward_backward_pipelining_with_interleaving). Throws parplan::Error
// when interleaving is asked with micro_batches not a multiple of p.
std::vector<PipeOp> stage_schedule(Schedule s, int p, int stage, int v, int m);

}  // namespace parplan::sim::detail
