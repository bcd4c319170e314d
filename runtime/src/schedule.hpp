#pragma once
// Pipeline schedules as data: the order in which one pipeline rank runs the forward and backward
// passes of its model chunks over the micro-batches. Torch-free, so it is tested on its own
// (tests/runtime/schedule_test.cpp replays every rank's list over FIFO p2p channels).
//   GPipe (Huang et al. 2019): all forwards, then all backwards.
//   1F1B (Narayanan et al. 2021, PipeDream-Flush): pp - rank - 1 warm-up forwards, then one
//   forward / one backward alternately, then the remaining backwards.
//   Interleaved 1F1B (Narayanan et al. 2021 sec. 2.2; Megatron-LM schedules.py
//   forward_backward_pipelining_with_interleaving): each rank holds v model chunks, chunk c of
//   rank r being virtual stage c * pp + r; micro-batches go through the chunks in groups of pp;
//   (pp - rank - 1) * 2 + (v - 1) * pp warm-up forwards (all of them when m == pp).
#include <string>
#include <vector>

namespace parplan::runtime {

enum class PipeSchedule { GPipe, OneFOneB, Interleaved };

struct PipeOp {
  bool forward = true;
  int chunk = 0;       // model chunk on this rank (0 unless interleaved)
  int microbatch = 0;
  bool operator==(const PipeOp&) const = default;
};

// The ops of pipeline rank `rank` of `pp` for `m` micro-batches and `v` chunks per rank (v > 1
// only with Interleaved, which needs m % pp == 0). With pp == 1: forward and backward of each
// micro-batch in turn. Throws parplan::Error on arguments no schedule exists for.
std::vector<PipeOp> pipeline_ops(PipeSchedule s, int pp, int rank, int m, int v = 1);

// Interleaved: forward passes before the first backward on this rank (Megatron's warm-up count).
int interleaved_warmup(int pp, int rank, int m, int v);

std::string to_string(const PipeOp& op);  // "F c1 mb3" / "B c0 mb2"

}  // namespace parplan::runtime
