// Pipeline schedules (runtime/src/schedule.cpp): the op order of hand-worked cases (DualPipeV's
// from the reference's DualPipeV.step, traced by hand for 2 ranks), and a replay
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

// Replays all ranks; returns "" or what went wrong. Interleaved and DualPipeV send gradients on
// their own group (as the runtime does), the others share the pipeline group. A stage whose
// neighbour is on the same rank (DualPipeV's turn at the last rank) hands over locally, which
// needs the producing op to have run. Every (chunk, micro-batch) must end with its weight
// gradient computed exactly once: a full backward, or an input-gradient B then its W.
std::string replay(PipeSchedule sched, int pp, int m, int v) {
  const int V = pp * v;
  std::vector<std::vector<PipeOp>> ops;
  for (int r = 0; r < pp; ++r) ops.push_back(pipeline_ops(sched, pp, r, m, v));
  const int grad_group = sched == PipeSchedule::Interleaved || sched == PipeSchedule::DualPipeV ? 1 : 0;
  std::map<std::tuple<int, int, int>, std::deque<std::pair<int, int>>> chan;  // (group, src, dst)
  std::vector<size_t> pc(size_t(pp), 0);
  std::set<std::tuple<int, int, int>> forwarded, input_grad, weight_grad;  // (rank, chunk, mb)
  std::set<std::pair<int, int>> fwd_out, bwd_out;  // (stage, mb) produced
  auto who = [&](const PipeOp& op, int r) { return "rank " + std::to_string(r) + " " + to_string(op); };
  for (bool progress = true; progress;) {
    progress = false;
    for (int r = 0; r < pp; ++r) {
      if (pc[size_t(r)] == ops[size_t(r)].size()) continue;
      const auto op = ops[size_t(r)][pc[size_t(r)]];
      const auto key = std::make_tuple(r, op.chunk, op.microbatch);
      const int vs = virtual_stage(sched, pp, r, op.chunk);
      // Receive from the stage at `from` (group g): a channel, or a local hand-over.
      auto take = [&](int from, int g, std::set<std::pair<int, int>>& produced) -> std::string {
        const int src = stage_holder(sched, pp, v, from).rank;
        if (src == r) return produced.count({from, op.microbatch}) ? "" : "blocked";
        auto& q = chan[{g, src, r}];
        if (q.empty()) return "blocked";
        if (q.front() != std::make_pair(from, op.microbatch))
          return who(op, r) + " received stage " + std::to_string(q.front().first) + " mb " +
                 std::to_string(q.front().second);
        q.pop_front();
        return "";
      };
      auto give = [&](int to, int g, std::set<std::pair<int, int>>& produced) {
        produced.insert({vs, op.microbatch});
        const int dst = stage_holder(sched, pp, v, to).rank;
        if (dst != r) chan[{g, r, dst}].push_back({vs, op.microbatch});
      };
      if (op.forward) {
        if (vs > 0) {
          auto e = take(vs - 1, 0, fwd_out);
          if (e == "blocked") continue;
          if (!e.empty()) return e;
        }
        if (vs < V - 1) give(vs + 1, 0, fwd_out);
        forwarded.insert(key);
      } else if (op.weight) {
        if (!input_grad.count(key)) return "W before its B: " + who(op, r);
        if (!weight_grad.insert(key).second) return "weight gradient twice: " + who(op, r);
      } else {
        if (!forwarded.count(key)) return "backward before forward: " + who(op, r);
        if (vs < V - 1) {
          auto e = take(vs + 1, grad_group, bwd_out);
          if (e == "blocked") continue;
          if (!e.empty()) return e;
        }
        if (vs > 0) give(vs - 1, grad_group, bwd_out);
        if (!input_grad.insert(key).second) return "backward twice: " + who(op, r);
        if (!op.split) weight_grad.insert(key);
      }
      ++pc[size_t(r)];
      progress = true;
    }
  }
  for (int r = 0; r < pp; ++r)
    if (pc[size_t(r)] != ops[size_t(r)].size())
      return "deadlock: rank " + std::to_string(r) + " stuck at " + to_string(ops[size_t(r)][pc[size_t(r)]]);
  if (int(input_grad.size()) != pp * v * m) return "not every (chunk, micro-batch) ran its backward";
  if (int(weight_grad.size()) != pp * v * m) return "not every (chunk, micro-batch) ran its weight gradient";
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
      EXPECT_EQ(replay(PipeSchedule::ZbH1, pp, m, 1), "") << "zb-h1 pp " << pp << " m " << m;
      if (m >= 2 * pp) {
        EXPECT_EQ(replay(PipeSchedule::DualPipeV, pp, m, 2), "") << "dualpipev pp " << pp << " m " << m;
      }
      for (int v = 1; v <= 3; ++v) {
        if (m % pp) continue;
        EXPECT_EQ(replay(PipeSchedule::Interleaved, pp, m, v), "")
            << "interleaved pp " << pp << " m " << m << " v " << v;
      }
    }
}

TEST(Schedule, ZbH1DefersWeightGradientsIntoTheCoolDown) {
  // pp 2, m 3. Rank 0: slot x runs F x, B x - 1, W x - 1; rank 1 (last): F x, B x, W x - 1.
  EXPECT_EQ(str(pipeline_ops(PipeSchedule::ZbH1, 2, 0, 3)),
            "F c0 mb0, F c0 mb1, b c0 mb0, W c0 mb0, F c0 mb2, b c0 mb1, W c0 mb1, b c0 mb2, W c0 mb2");
  EXPECT_EQ(str(pipeline_ops(PipeSchedule::ZbH1, 2, 1, 3)),
            "F c0 mb0, b c0 mb0, F c0 mb1, b c0 mb1, W c0 mb0, F c0 mb2, b c0 mb2, W c0 mb1, W c0 mb2");
}

TEST(Schedule, DualPipeVFollowsTheReferenceStep) {
  // DualPipeV.step for 2 ranks and 4 micro-batches, phase by phase. Rank 0: nF0 2, nF0F1 1,
  // nB1W1F1 1 (split), nF0B1F1B0 1, nB1F1B0 1, nB1B0 1 (its B0 split), nWB0 1, nW 1.
  EXPECT_EQ(str(pipeline_ops(PipeSchedule::DualPipeV, 2, 0, 4, 2)),
            "F c0 mb0, F c0 mb1, F c0 mb2, F c1 mb0, b c1 mb0, W c1 mb0, F c1 mb1, "
            "F c0 mb3, B c1 mb1, F c1 mb2, B c0 mb0, B c1 mb2, F c1 mb3, B c0 mb1, "
            "B c1 mb3, b c0 mb2, W c0 mb2, b c0 mb3, W c0 mb3");
  // Rank 1 (the V's turn): nF0F1 2, nF0B1F1B0 2, nB1B0 2 (the second pair split), nW 2.
  EXPECT_EQ(str(pipeline_ops(PipeSchedule::DualPipeV, 2, 1, 4, 2)),
            "F c0 mb0, F c1 mb0, F c0 mb1, F c1 mb1, F c0 mb2, B c1 mb0, F c1 mb2, B c0 mb0, "
            "F c0 mb3, B c1 mb1, F c1 mb3, B c0 mb1, B c1 mb2, B c0 mb2, b c1 mb3, b c0 mb3, "
            "W c1 mb3, W c0 mb3");
  EXPECT_EQ(virtual_stage(PipeSchedule::DualPipeV, 2, 0, 1), 3);  // the loss is on rank 0
  EXPECT_EQ(stage_holder(PipeSchedule::DualPipeV, 2, 2, 2).rank, 1);
  EXPECT_EQ(stage_holder(PipeSchedule::DualPipeV, 2, 2, 2).chunk, 1);
  EXPECT_THROW(pipeline_ops(PipeSchedule::DualPipeV, 2, 0, 3, 2), Error);  // m < 2 pp
  EXPECT_THROW(pipeline_ops(PipeSchedule::DualPipeV, 2, 0, 4, 1), Error);
}
