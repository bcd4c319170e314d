// Pipeline schedules as lists of ops (GPipe, 1F1B, interleaved 1F1B).
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

}  // namespace

std::vector<PipeOp> pipeline_ops(PipeSchedule s, int pp, int rank, int m, int v) {
  if (pp < 1 || rank < 0 || rank >= pp || m < 1 || v < 1)
    throw Error("pipeline schedule: bad arguments (pp, rank, micro-batches, chunks)");
  std::vector<PipeOp> ops;
  auto F = [&](int c, int i) { ops.push_back({true, c, i}); };
  auto B = [&](int c, int i) { ops.push_back({false, c, i}); };
  if (s != PipeSchedule::Interleaved && v != 1)
    throw Error("pipeline schedule: virtual stages need the interleaved schedule");
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
  return std::string(op.forward ? "F" : "B") + " c" + std::to_string(op.chunk) + " mb" +
         std::to_string(op.microbatch);
}

}  // namespace parplan::runtime
