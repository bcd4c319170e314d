#pragma once
// The order in which one pipeline stage runs its forward and backward passes (internal to sim/).
#include <vector>

#include "parplan/model/layout.hpp"

namespace parplan::sim::detail {

struct PipeOp {
  bool forward = true;
  int microbatch = 0;
  int chunk = 0;  // model chunk (virtual stage) on this GPU
  // Zero-bubble: a backward op computes the input gradient only (B) and a later weight op
  // (forward false, weight true) the weight gradient (W); weight ops send and receive nothing.
  bool weight = false;
  bool split = false;  // a B whose W runs as its own op
};

// GPipe: all forwards then all backwards (Huang et al. 2019). 1F1B: p - stage - 1 warm-up
// forwards, then one forward one backward (Narayanan et al. 2021). Interleaved: Megatron-LM's
// virtual-pipeline order (forward_backward_pipelining_with_interleaving). Throws parplan::Error
// when interleaving is asked with micro_batches not a multiple of p.
// ZB-H1 (Qi et al. 2024 sec. 3.1): stage s runs, in slot x = 0 .. m + p - 2, F x, then
// B x - (p - 1 - s), then W x - (p - 1) (those in range): 1F1B's warm-up and peak memory, the
// weight gradients deferred into the cool-down bubble. Throws parplan::Error for ZB-V, DualPipe
// and DualPipeV, which have no timeline here yet.
std::vector<PipeOp> stage_schedule(Schedule s, int p, int stage, int v, int m);

}  // namespace parplan::sim::detail
