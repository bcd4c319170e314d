#include "schedule.hpp"

#include <algorithm>
#include <string>

#include "parplan/model/error.hpp"

namespace parplan::sim::detail {

std::vector<PipeOp> stage_schedule(Schedule s, int p, int stage, int v, int m) {
  std::vector<PipeOp> ops;
  if (v < 1 || m < 1 || p < 1) return ops;
  if (s == Schedule::GPipe) {
    for (int mb = 0; mb < m; ++mb)
      for (int c = 0; c < v; ++c) ops.push_back({true, mb, c});
    for (int mb = m - 1; mb >= 0; --mb)
      for (int c = v - 1; c >= 0; --c) ops.push_back({false, mb, c});
    return ops;
  }
  if (s == Schedule::ZbV || s == Schedule::DualPipe || s == Schedule::DualPipeV)
    throw Error(std::string("layout.schedule: ") + to_string(s) +
                " has no timeline in the simulation yet (the cost model prices it); simulate "
                "with zb-h1, 1f1b or interleaved");
  if (s == Schedule::ZbH1) {
    for (int x = 0; x < m + p - 1; ++x) {
      if (x < m) ops.push_back({true, x, 0});
      const int b = x - (p - 1 - stage), w = x - (p - 1);
      if (b >= 0 && b < m) ops.push_back({false, b, 0, false, true});
      if (w >= 0 && w < m) ops.push_back({false, w, 0, true, true});
    }
    return ops;
  }
  if (v == 1) {
    const int warm = std::min(p - stage - 1, m);
    for (int i = 0; i < warm; ++i) ops.push_back({true, i, 0});
    for (int i = 0; i < m - warm; ++i) {
      ops.push_back({true, warm + i, 0});
      ops.push_back({false, i, 0});
    }
    for (int i = m - warm; i < m; ++i) ops.push_back({false, i, 0});
    return ops;
  }
  if (m % p != 0)
    throw Error("cannot simulate the interleaved schedule: micro-batches per pipeline (" +
                std::to_string(m) + ") must be a multiple of pp (" + std::to_string(p) + ")");
  const int total = m * v;
  int warm = total;
  if (m != p) warm = std::min((p - stage - 1) * 2 + (v - 1) * p, total);
  auto mb_of = [&](int k) { return (k / (p * v)) * p + k % p; };
  auto fwd_chunk = [&](int k) { return (k / p) % v; };
  auto bwd_chunk = [&](int k) { return v - 1 - (k / p) % v; };
  for (int k = 0; k < warm; ++k) ops.push_back({true, mb_of(k), fwd_chunk(k)});
  for (int i = 0; i < total - warm; ++i) {
    ops.push_back({true, mb_of(warm + i), fwd_chunk(warm + i)});
    ops.push_back({false, mb_of(i), bwd_chunk(i)});
  }
  for (int k = total - warm; k < total; ++k) ops.push_back({false, mb_of(k), bwd_chunk(k)});
  return ops;
}

}  // namespace parplan::sim::detail
