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
//   ZB-H1 (Qi et al. 2024, arXiv:2401.10241 sec. 3.1): the backward split into the input gradient
//   (B) and the weight gradient (W); rank s runs, in slot x = 0 .. m + pp - 2, F x, then
//   B x - (pp - 1 - s), then W x - (pp - 1) (those in range): 1F1B's warm-up and peak memory, the
//   weight gradients deferred into the cool-down bubble (sim/src/schedule.cpp has the same order).
//   DualPipeV (deepseek-ai/DualPipe, dualpipe/dualpipev.py DualPipeV.step): two chunks per rank
//   in a V, chunk 0 of rank r being virtual stage r and chunk 1 stage 2 pp - 1 - r (the loss is on
//   rank 0's chunk 1); eight phases (nF0, nF0F1, nB1W1F1, nF0B1F1B0, nB1F1B0, nB1B0, nWB0, nW) with
//   the weight gradients of the zero-bubble backwards run later, first in first out; needs
//   m >= 2 pp.
#include <string>
#include <vector>

namespace parplan::runtime {

enum class PipeSchedule { GPipe, OneFOneB, Interleaved, ZbH1, DualPipeV };

struct PipeOp {
  bool forward = true;
  int chunk = 0;       // model chunk on this rank (0 unless interleaved)
  int microbatch = 0;
  // A backward op (forward false) with `split` computes the input gradient only (B); the weight
  // op of the same (chunk, micro-batch) (forward false, weight true) later its weight gradient
  // (W). Weight ops send and receive nothing. Without `split` a backward computes both.
  bool split = false;
  bool weight = false;
  bool operator==(const PipeOp&) const = default;
};

// The ops of pipeline rank `rank` of `pp` for `m` micro-batches and `v` chunks per rank (v > 1
// only with Interleaved, which needs m % pp == 0; DualPipeV needs v == 2). With pp == 1 (except
// DualPipeV): forward and backward of each micro-batch in turn. Throws parplan::Error on
// arguments no schedule exists for.
std::vector<PipeOp> pipeline_ops(PipeSchedule s, int pp, int rank, int m, int v = 1);

// Interleaved: forward passes before the first backward on this rank (Megatron's warm-up count).
int interleaved_warmup(int pp, int rank, int m, int v);

// Model chunks per rank: 2 for DualPipeV, else `virtual_stages`.
int chunks_per_rank(PipeSchedule s, int virtual_stages);
// Where a rank's chunk sits in the model: virtual stage c * pp + rank (interleaved, and c = 0
// otherwise), or the V of DualPipeV (chunk 0: rank, chunk 1: 2 pp - 1 - rank).
int virtual_stage(PipeSchedule s, int pp, int rank, int chunk);
struct StageHolder {
  int rank = 0, chunk = 0;
};
// The rank and chunk holding virtual stage `stage` (0 .. pp * chunks - 1).
StageHolder stage_holder(PipeSchedule s, int pp, int chunks, int stage);

std::string to_string(const PipeOp& op);  // "F c1 mb3" / "B c0 mb2" (full) / "b c0 mb2" (B) / "W c0 mb2"

}  // namespace parplan::runtime
