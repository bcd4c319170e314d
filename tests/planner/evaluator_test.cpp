// The search's evaluator must return exactly what the cost model returns.
#include "evaluator.hpp"

#include <gtest/gtest.h>

#include <random>

#include "fixtures.hpp"

namespace parplan::planner {
namespace {

TEST(Evaluator, EqualsPredictUncheckedAndMemoryPerGpuOnRandomValidLayouts) {
  auto in = test::gpt3();
  detail::Evaluator ev(in.m, in.c, in.t);
  std::mt19937 rng(42);
  auto pick = [&](std::initializer_list<int32_t> v) {
    return *(v.begin() + std::uniform_int_distribution<size_t>(0, v.size() - 1)(rng));
  };
  int checked = 0;
  for (int i = 0; i < 20000 && checked < 2000; ++i) {
    Layout l;
    l.tp = pick({1, 2, 4, 8, 16});
    l.pp = pick({1, 2, 4, 8, 16});
    l.cp = pick({1, 2, 4});
    l.dp = pick({1, 2, 4, 8, 16, 32, 64});
    l.micro_batch = pick({1, 2, 3, 4, 8});
    l.zero = pick({0, 1, 2, 3});
    l.recompute = Recompute(pick({0, 1, 2}));
    l.sequence_parallel = l.tp > 1 && pick({0, 1});
    l.schedule = l.pp > 1 ? Schedule(pick({0, 1, 2})) : Schedule::OneFOneB;
    l.virtual_stages = l.schedule == Schedule::Interleaved ? pick({2, 3, 4}) : 1;
    l.offload = Offload(pick({0, 1, 2}));
    Diagnostics d;
    validate(l, in.m, in.c, in.t, d);
    if (!d.ok()) continue;
    ++checked;
    const auto p = cost::predict_unchecked(in.m, in.c, in.t, l);
    const auto e = ev.step(l);
    EXPECT_EQ(e.step_time_s, p.step_time_s) << describe(l);
    EXPECT_EQ(e.time.compute, p.time.compute);
    EXPECT_EQ(e.time.dp_comm_exposed, p.time.dp_comm_exposed);
    EXPECT_EQ(e.memory.total, p.memory.total);
    EXPECT_EQ(e.mfu, p.mfu);
    const auto m = ev.memory(l);
    EXPECT_EQ(m.total, cost::memory_per_gpu(in.m, in.c, in.t, l).total) << describe(l);
    EXPECT_EQ(m.fits, p.fits);
    const auto b = ev.lower_bound(l, p.micro_batches);
    EXPECT_LE(b.step_s + ev.bubble_bound(b, l.schedule, l.pp, l.virtual_stages, p.micro_batches),
              p.step_time_s)
        << describe(l);
  }
  EXPECT_GT(checked, 500);
}

}  // namespace
}  // namespace parplan::planner
