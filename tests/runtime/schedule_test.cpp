// Pipeline schedules (runtime/src/schedule.cpp): the op order of hand-worked cases, and a replay
// of every rank's list over FIFO p2p channels with blocking receives (the runtime's semantics:
// sends asynchronous, a receive blocks until the peer's message is first in its channel), which
// must finish without deadlock and with each message received where it is expected.
#include <deque>
#include <map>
#include <set>
#include <tuple>

#include <gtest/gtest.h>

#include "parplan/model/error.hpp"
#include "schedule.hpp"

using namespace parplan;
using namespace parplan::runtime;

namespace {

std::string str(const std::vector<PipeOp>& ops) {
  std::string s;
  for (auto& o : ops) s += (s.empty() ? "" : ", ") + to_string(o);
  return s;
}

// Replays all ranks; returns "" or what went wrong. Interleaved schedules send gradients on
// their own group (as the runtime does), the others share the pipeline group.
std::string replay(PipeSchedule sched, int pp, int m, int v) {
  const int V = pp * v;
  std::vector<std::vector<PipeOp>> ops;
  for (int r = 0; r < pp; ++r) ops.push_back(pipeline_ops(sched, pp, r, m, v));
  const int grad_group = sched == PipeSchedule::Interleaved ? 1 : 0;
  std::map<std::tuple<int, int, int>, std::deque<std::pair<int, int>>> chan;  // (group, src, dst)
  std::vector<size_t> pc(size_t(pp), 0);
  std::set<std::tuple<int, int, int>> forwarded, done;  // (rank, chunk, mb)
  for (bool progress = true; progress;) {
    progress = false;
    for (int r = 0; r < pp; ++r) {
      if (pc[size_t(r)] == ops[size_t(r)].size()) continue;
      const auto op = ops[size_t(r)][pc[size_t(r)]];
      const int vs = op.chunk * pp + r, next = (r + 1) % pp, prev = (r + pp - 1) % pp;
      if (op.forward) {
        if (vs > 0) {
          auto& q = chan[{0, prev, r}];
          if (q.empty()) continue;  // blocked in recv
          if (q.front() != std::make_pair(vs - 1, op.microbatch))
            return "rank " + std::to_string(r) + " " + to_string(op) + " received activations of stage " +
                   std::to_string(q.front().first) + " mb " + std::to_string(q.front().second);
          q.pop_front();
        }
        if (vs < V - 1) chan[{0, r, next}].push_back({vs, op.microbatch});
        forwarded.insert({r, op.chunk, op.microbatch});
      } else {
        if (!forwarded.count({r, op.chunk, op.microbatch})) return "backward before forward: " + to_string(op);
        if (vs < V - 1) {
          auto& q = chan[{grad_group, next, r}];
          if (q.empty()) continue;
          if (q.front() != std::make_pair(vs + 1, op.microbatch))
            return "rank " + std::to_string(r) + " " + to_string(op) + " received gradients of stage " +
                   std::to_string(q.front().first) + " mb " + std::to_string(q.front().second);
          q.pop_front();
        }
        if (vs > 0) chan[{grad_group, r, prev}].push_back({vs, op.microbatch});
        if (!done.insert({r, op.chunk, op.microbatch}).second) return "backward twice: " + to_string(op);
      }
      ++pc[size_t(r)];
      progress = true;
    }
  }
  for (int r = 0; r < pp; ++r)
    if (pc[size_t(r)] != ops[size_t(r)].size())
      return "deadlock: rank " + std::to_string(r) + " stuck at " + to_string(ops[size_t(r)][pc[size_t(r)]]);
  if (int(done.size()) != pp * v * m) return "not every (chunk, micro-batch) ran its backward";
  return "";
}

}  // namespace

TEST(Schedule, OneFOneBWarmsUpPpMinusRankMinusOneForwards) {
  // pp 2, m 3: rank 0 warms up with 1 forward, rank 1 (last) with none.
  EXPECT_EQ(str(pipeline_ops(PipeSchedule::OneFOneB, 2, 0, 3)),
            "F c0 mb0, F c0 mb1, B c0 mb0, F c0 mb2, B c0 mb1, B c0 mb2");
  EXPECT_EQ(str(pipeline_ops(PipeSchedule::OneFOneB, 2, 1, 3)),
            "F c0 mb0, B c0 mb0, F c0 mb1, B c0 mb1, F c0 mb2, B c0 mb2");
  EXPECT_EQ(str(pipeline_ops(PipeSchedule::GPipe, 2, 1, 2)), "F c0 mb0, F c0 mb1, B c0 mb0, B c0 mb1");
}

TEST(Schedule, InterleavedFollowsMegatronsOrder) {
  // pp 2, v 2, m 4: rank 0 warms up with (2 - 0 - 1) * 2 + (2 - 1) * 2 = 4 forwards; forwards go
  // through chunk 0 for micro-batches 0, 1, then chunk 1 for 0, 1, then chunk 0 for 2, 3, ...;
  // backwards the same with the chunks reversed.
  EXPECT_EQ(interleaved_warmup(2, 0, 4, 2), 4);
  EXPECT_EQ(interleaved_warmup(2, 1, 4, 2), 2);
  EXPECT_EQ(interleaved_warmup(4, 0, 8, 2), 10);  // (4 - 1) * 2 + 4
  EXPECT_EQ(str(pipeline_ops(PipeSchedule::Interleaved, 2, 0, 4, 2)),
            "F c0 mb0, F c0 mb1, F c1 mb0, F c1 mb1, "
            "F c0 mb2, B c1 mb0, F c0 mb3, B c1 mb1, F c1 mb2, B c0 mb0, F c1 mb3, B c0 mb1, "
            "B c1 mb2, B c1 mb3, B c0 mb2, B c0 mb3");
  EXPECT_THROW(pipeline_ops(PipeSchedule::Interleaved, 2, 0, 3, 2), Error);  // m % pp != 0
  EXPECT_THROW(pipeline_ops(PipeSchedule::OneFOneB, 2, 0, 4, 2), Error);
}

TEST(Schedule, EveryScheduleReplaysWithoutDeadlockOverBlockingReceives) {
  for (int pp = 1; pp <= 4; ++pp)
    for (int m = 1; m <= 9; ++m) {
      EXPECT_EQ(replay(PipeSchedule::GPipe, pp, m, 1), "") << "gpipe pp " << pp << " m " << m;
      EXPECT_EQ(replay(PipeSchedule::OneFOneB, pp, m, 1), "") << "1f1b pp " << pp << " m " << m;
      for (int v = 1; v <= 3; ++v) {
        if (m % pp) continue;
        EXPECT_EQ(replay(PipeSchedule::Interleaved, pp, m, v), "")
            << "interleaved pp " << pp << " m " << m << " v " << v;
      }
    }
}
