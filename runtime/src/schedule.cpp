// Pipeline schedules as lists of ops (GPipe, 1F1B, interleaved 1F1B, ZB-H1, DualPipeV).
#include "schedule.hpp"

#include <algorithm>

#include "parplan/model/error.hpp"

namespace parplan::runtime {

int interleaved_warmup(int pp, int rank, int m, int v) {
  const int total = m * v;
  if (m == pp) return total;  // Megatron: all warm-up when there is exactly one group
  return std::min((pp - rank - 1) * 2 + (v - 1) * pp, total);
}

namespace {

// The k-th forward (or backward) of a rank in the interleaved order: micro-batches in groups of
// pp go through chunk 0, then chunk 1, ...; backwards visit the chunks in reverse.
PipeOp interleaved_op(int k, bool forward, int pp, int v) {
  const int in_group = k % (pp * v);
  int chunk = in_group / pp;
  if (!forward) chunk = v - 1 - chunk;
  return {forward, chunk, (k / (pp * v)) * pp + k % pp};
}

// ZB-H1: slot x runs F x, B x - (pp - 1 - rank), W x - (pp - 1) (Qi et al. 2024 sec. 3.1).
std::vector<PipeOp> zb_h1_ops(int pp, int rank, int m) {
  std::vector<PipeOp> ops;
  for (int x = 0; x < m + pp - 1; ++x) {
    if (x < m) ops.push_back({true, 0, x});
    const int b = x - (pp - 1 - rank), w = x - (pp - 1);
    if (b >= 0 && b < m) ops.push_back({false, 0, b, true, false});
    if (w >= 0 && w < m) ops.push_back({false, 0, w, true, true});
  }
  return ops;
}

// DualPipeV.step (deepseek-ai/DualPipe dualpipe/dualpipev.py), its compute ops in its order:
// each chunk's forwards and backwards take the micro-batches in turn; a zero-bubble backward
// queues its weight gradient, which a later W runs (first in, first out). The reference overlaps
// a forward of one chunk with a backward of the other (_forward_backward_chunk): here they run
// one after the other, forward first, as the reference does without overlapped_forward_backward.
std::vector<PipeOp> dualpipev_ops(int n, int r, int m) {
  if (m < 2 * n)
    throw Error("the DualPipeV schedule needs at least 2 * layout.pp micro-batches per step (" +
                std::to_string(m) + " < 2 * " + std::to_string(n) + ")");
  std::vector<PipeOp> ops;
  int f[2] = {0, 0}, b[2] = {0, 0};
  std::vector<std::pair<int, int>> wq;  // queued weight gradients (chunk, micro-batch)
  size_t wq_head = 0;
  auto F = [&](int c) { ops.push_back({true, c, f[c]++}); };
  auto B = [&](int c, bool zb = false) {
    ops.push_back({false, c, b[c], zb, false});
    if (zb) wq.push_back({c, b[c]});
    ++b[c];
  };
  auto W = [&] {
    const auto [c, i] = wq.at(wq_head++);
    ops.push_back({false, c, i, true, true});
  };
  for (int i = 0; i < (n - r - 1) * 2; ++i) F(0);           // 1: nF0
  for (int i = 0; i < r + 1; ++i) F(0), F(1);                // 2: nF0F1
  for (int i = 0; i < n - r - 1; ++i) B(1, true), W(), F(1);  // 3: nB1W1F1
  for (int i = 0; i < m - 2 * n + r + 1; ++i) F(0), B(1), F(1), B(0);  // 4: nF0B1F1B0
  for (int i = 0; i < n - r - 1; ++i) B(1), F(1), B(0);      // 5: nB1F1B0
  bool zb = false;                                           // 6: nB1B0, the second half split
  for (int i = 0; i < r + 1; ++i) {
    if (i == (r + 1) / 2 && r % 2 == 1) zb = true;
    B(1, zb);
    if (i == (r + 1) / 2 && r % 2 == 0) zb = true;
    B(0, zb);
  }
  for (int i = 0; i < n - r - 1; ++i) W(), B(0, true);       // 7: nWB0
  for (int i = 0; i < r + 1; ++i) W();                       // 8: nW
  return ops;
}

}  // namespace

int chunks_per_rank(PipeSchedule s, int virtual_stages) {
  return s == PipeSchedule::DualPipeV ? 2 : std::max(1, virtual_stages);
}

int virtual_stage(PipeSchedule s, int pp, int rank, int chunk) {
  if (s == PipeSchedule::DualPipeV) return chunk == 0 ? rank : 2 * pp - 1 - rank;
  return chunk * pp + rank;
}

StageHolder stage_holder(PipeSchedule s, int pp, int chunks, int stage) {
  if (s == PipeSchedule::DualPipeV) return stage < pp ? StageHolder{stage, 0} : StageHolder{2 * pp - 1 - stage, 1};
  (void)chunks;
  return {stage % pp, stage / pp};
}

std::vector<PipeOp> pipeline_ops(PipeSchedule s, int pp, int rank, int m, int v) {
  if (pp < 1 || rank < 0 || rank >= pp || m < 1 || v < 1)
    throw Error("pipeline schedule: bad arguments (pp, rank, micro-batches, chunks)");
  std::vector<PipeOp> ops;
  auto F = [&](int c, int i) { ops.push_back({true, c, i}); };
  auto B = [&](int c, int i) { ops.push_back({false, c, i}); };
  if (s == PipeSchedule::DualPipeV) {
    if (v != 2) throw Error("pipeline schedule: DualPipeV runs two chunks per rank");
    return dualpipev_ops(pp, rank, m);
  }
  if (s != PipeSchedule::Interleaved && v != 1)
    throw Error("pipeline schedule: virtual stages need the interleaved schedule");
  if (s == PipeSchedule::ZbH1) return zb_h1_ops(pp, rank, m);
  if (s == PipeSchedule::Interleaved) {
    if (m % pp)
      throw Error("the interleaved schedule needs the number of micro-batches (" + std::to_string(m) +
                  ") divisible by layout.pp (" + std::to_string(pp) + ")");
    const int total = m * v, warmup = interleaved_warmup(pp, rank, m, v);
    for (int k = 0; k < warmup; ++k) ops.push_back(interleaved_op(k, true, pp, v));
    for (int k = 0; k < total - warmup; ++k) {
      ops.push_back(interleaved_op(k + warmup, true, pp, v));
      ops.push_back(interleaved_op(k, false, pp, v));
    }
    for (int k = total - warmup; k < total; ++k) ops.push_back(interleaved_op(k, false, pp, v));
    return ops;
  }
  if (pp == 1) {  // no pipeline: forward and backward each micro-batch
    for (int i = 0; i < m; ++i) F(0, i), B(0, i);
  } else if (s == PipeSchedule::GPipe) {
    for (int i = 0; i < m; ++i) F(0, i);
    for (int i = 0; i < m; ++i) B(0, i);
  } else {
    const int warmup = std::min(pp - rank - 1, m);
    for (int i = 0; i < warmup; ++i) F(0, i);
    for (int i = warmup; i < m; ++i) F(0, i), B(0, i - warmup);
    for (int i = m - warmup; i < m; ++i) B(0, i);
  }
  return ops;
}

std::string to_string(const PipeOp& op) {
  return std::string(op.forward ? "F" : op.weight ? "W" : op.split ? "b" : "B") + " c" + std::to_string(op.chunk) + " mb" +
         std::to_string(op.microbatch);
}

}  // namespace parplan::runtime
