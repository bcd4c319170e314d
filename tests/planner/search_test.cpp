#include "parplan/planner/search.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <set>

#include "fixtures.hpp"
#include "parplan/cost/context_parallel.hpp"
#include "parplan/cost/sharding.hpp"
#include "parplan/cost/step.hpp"

namespace parplan::planner {
namespace {

SearchResult run(const test::Inputs& in, int64_t gpus, int top_k = 1 << 20, Fixed f = {},
                 bool allow_idle = false, int threads = 0) {
  SearchOptions o;
  o.gpus = gpus;
  o.top_k = top_k;
  o.fixed = f;
  o.allow_idle = allow_idle;
  o.threads = threads;
  return search(in.m, in.c, in.t, o);
}

TEST(Search, EveryFeasibleLayoutUsesAllGpusAndPassesEveryDivisibilityRule) {
  auto in = test::gpt2();
  auto r = run(in, 8);
  ASSERT_GT(r.feasible, 0);
  // top_k is larger than the space, so `top` holds every feasible layout.
  EXPECT_EQ(int64_t(r.top.size()), r.feasible);
  for (const auto& c : r.top) {
    EXPECT_EQ(c.layout.gpus(), 8) << describe(c.layout);
    Diagnostics d;
    validate(c.layout, in.m, in.c, in.t, d);
    EXPECT_TRUE(d.ok()) << describe(c.layout) << ": " << (d.ok() ? "" : d.errors.front());
    EXPECT_TRUE(c.cost.memory.fits);
    EXPECT_TRUE(!c.layout.sequence_parallel || c.layout.tp > 1);
    EXPECT_TRUE(c.layout.pp > 1 || c.layout.schedule != Schedule::Interleaved);
    EXPECT_TRUE(c.layout.offload != Offload::OptimizerAndParams || c.layout.zero == 3);
    EXPECT_TRUE(c.layout.offload != Offload::Optimizer || c.layout.zero >= 1);
  }
}

TEST(Search, EnumeratesEveryDegreeSplitOfTheGpus) {
  // gpt2: 12 heads, 12 layers, seq 1024, batch 512: on 8 GPUs every power-of-two split is valid.
  auto r = run(test::gpt2(), 8);
  std::set<std::tuple<int, int, int, int>> splits;
  for (const auto& c : r.top) splits.insert({c.layout.dp, c.layout.tp, c.layout.pp, c.layout.cp});
  // tp in {1,2,4} (12 heads), pp in {1,2,4} (12 layers), cp in {1,2,4,8}, dp the rest:
  // 1+2+2+3 ... counted by hand: (tp,pp) pairs with tp*pp | 8 -> 6 pairs; cp fills the rest.
  EXPECT_TRUE(splits.count({8, 1, 1, 1}));
  EXPECT_TRUE(splits.count({1, 4, 2, 1}));
  EXPECT_TRUE(splits.count({1, 2, 1, 4}));
  EXPECT_FALSE(splits.count({1, 8, 1, 1}));  // 8 does not divide 12 heads
}

TEST(Search, AllowIdleAcceptsLayoutsUsingFewerGpus) {
  auto in = test::gpt2();
  auto r = run(in, 6, 1 << 20, {}, /*allow_idle=*/true);
  ASSERT_FALSE(r.top.empty());
  bool fewer = false;
  for (const auto& c : r.top) {
    EXPECT_LE(c.layout.gpus(), 6);
    fewer |= c.layout.gpus() < 6;
  }
  EXPECT_TRUE(fewer);
  // Without --allow-idle only exact splits of 6 remain: dp*tp*pp*cp = 6.
  for (const auto& c : run(in, 6).top) EXPECT_EQ(c.layout.gpus(), 6);
}

TEST(Search, FixedDimensionsArePinnedInEveryResult) {
  Fixed f = parse_fixed("tp=2,pp=2,zero=1,recompute=selective");
  auto r = run(test::gpt2(), 8, 1 << 20, f);
  ASSERT_FALSE(r.top.empty());
  for (const auto& c : r.top) {
    EXPECT_EQ(c.layout.tp, 2);
    EXPECT_EQ(c.layout.pp, 2);
    EXPECT_EQ(c.layout.zero, 1);
    EXPECT_EQ(c.layout.recompute, Recompute::Selective);
    EXPECT_EQ(c.layout.dp * c.layout.cp, 2);
  }
}

TEST(Search, FixedScheduleAndVirtualStagesArePinned) {
  auto r = run(test::gpt3(), 1024, 50, parse_fixed("tp=8,pp=8,v=2"));
  ASSERT_FALSE(r.top.empty());
  for (const auto& c : r.top) {
    EXPECT_EQ(c.layout.schedule, Schedule::Interleaved);
    EXPECT_EQ(c.layout.virtual_stages, 2);
    EXPECT_EQ(c.layout.dp * c.layout.cp, 16);
  }
}

TEST(Search, UnevenPipelineStagesAreSearched) {
  // llama3-405b has 126 layers: pp=16 (Meta's choice) leaves stages of 7 and 8 layers.
  auto in = test::presets("llama3-405b", "dgx-h100-80g", "llama3-8k");
  auto r = run(in, 16384, 5, parse_fixed("tp=8,pp=16"));
  ASSERT_FALSE(r.top.empty());
  EXPECT_EQ(r.top.front().layout.pp, 16);
  EXPECT_EQ(r.top.front().layout.dp * r.top.front().layout.cp, 128);
}

TEST(Search, TopListIsSortedByStepTimeThenMemory) {
  auto r = run(test::gpt3(), 1024, 100);
  ASSERT_EQ(r.top.size(), 100u);
  for (size_t i = 1; i < r.top.size(); ++i) {
    EXPECT_FALSE(better(r.top[i], r.top[i - 1])) << i;
    EXPECT_LE(r.top[i - 1].cost.step_time_s, r.top[i].cost.step_time_s);
  }
}

TEST(Search, BestOfASmallCaseEqualsTheBruteForceMinimumOverPredict) {
  auto in = test::gpt2();
  // Brute force: every combination of every field, kept when validate() accepts it and it lies in
  // the search's space (docs/planner.md: optimizer offload needs ZeRO >= 1; with dp = 1 ZeRO is
  // only used with offload unless the framework shards over DP x CP (megatron-core, the default)
  // and cp > 1; without a pipeline the schedule is 1F1B).
  std::optional<Candidate> best;
  int64_t valid = 0, fits = 0;
  const int32_t degs[] = {1, 2, 4, 8};
  for (int32_t dp : degs)
    for (int32_t tp : degs)
      for (int32_t pp : degs)
        for (int32_t cp : degs) {
          if (int64_t(dp) * tp * pp * cp != 8) continue;
          for (int32_t mb = 1; mb <= 512; ++mb) {
            if (in.t.global_batch % (int64_t(dp) * mb) != 0) continue;  // validate() says so too
            for (int32_t zero = 0; zero <= 3; ++zero)
              for (Recompute rc : {Recompute::None, Recompute::Selective, Recompute::Full})
                for (bool sp : {false, true})
                  for (Schedule s : {Schedule::GPipe, Schedule::OneFOneB, Schedule::Interleaved})
                    for (int32_t v = 1; v <= 12; ++v)
                      for (Offload o :
                           {Offload::None, Offload::Optimizer, Offload::OptimizerAndParams})
                        for (CpKind k : {CpKind::Ring, CpKind::Ulysses, CpKind::Usp}) {
                        if ((s == Schedule::Interleaved) != (v > 1) || (sp && tp == 1)) continue;
                        Layout l{dp, tp, pp, cp, mb, zero, rc, sp, s, v, o};
                        // cp_kind is moot without CP; USP is searched only where it is neither
                        // ring (Ulysses degree 1) nor Ulysses (degree cp).
                        l.cp_kind = k;
                        if (cp == 1 && k != CpKind::Ring) continue;
                        if (k == CpKind::Usp &&
                            (cost::ulysses_degree(in.m, in.c, l) <= 1 ||
                             cost::ulysses_degree(in.m, in.c, l) >= cp))
                          continue;
                        Diagnostics d;
                        validate(l, in.m, in.c, in.t, d);
                        if (!d.ok()) continue;
                        if (o == Offload::Optimizer && zero == 0) continue;
                        // With one rank to shard over (dp 1, and cp 1 or a framework that
                        // shards over DP only) ZeRO is used with offload only.
                        if (dp == 1 && !cost::states_over_cp(in.t, l) && zero > 0 &&
                            o == Offload::None)
                          continue;
                        if (pp == 1 && s != Schedule::OneFOneB) continue;
                        ++valid;
                        Candidate c{l, cost::predict(in.m, in.c, in.t, l)};
                        if (!c.cost.fits) continue;
                        ++fits;
                        if (!best || better(c, *best)) best = c;
                      }
          }
        }
  auto r = run(in, 8, 5);
  ASSERT_TRUE(best.has_value());
  // Every layout of the space is evaluated or pruned; the exhaustive search evaluates them all.
  EXPECT_EQ(r.layouts, valid);
  EXPECT_EQ(r.evaluated + r.time_pruned + r.memory_pruned, valid);
  SearchOptions ex;
  ex.gpus = 8;
  ex.top_k = 5;
  ex.exhaustive = true;
  const auto full = search(in.m, in.c, in.t, ex);
  EXPECT_EQ(full.evaluated, valid);
  EXPECT_EQ(full.feasible, fits);
  EXPECT_EQ(full.predicted, fits);
  ASSERT_FALSE(r.top.empty());
  EXPECT_EQ(r.top.front().layout, best->layout)
      << describe(r.top.front().layout) << " vs " << describe(best->layout);
  EXPECT_EQ(r.top.front().cost.step_time_s, best->cost.step_time_s);
}

TEST(Search, CandidateCostsEqualPredictExactly) {
  auto in = test::gpt3();
  auto r = run(in, 1024, 64);
  ASSERT_EQ(r.top.size(), 64u);
  for (const auto& c : r.top) {
    const cost::StepCost p = cost::predict(in.m, in.c, in.t, c.layout);
    EXPECT_EQ(c.cost.step_time_s, p.step_time_s);
    EXPECT_EQ(c.cost.memory.total, p.memory.total);
    EXPECT_EQ(c.cost.exposed_comm_fraction, p.exposed_comm_fraction);
    EXPECT_EQ(c.cost.mfu, p.mfu);
  }
}

TEST(Search, PruningLeavesTheTopListUnchanged) {
  // The reference: the exhaustive search (no pruning), one thread.
  auto in = test::gpt3();
  auto pruned = run(in, 512, 10, {}, false, 1);
  SearchOptions ex;
  ex.gpus = 512;
  ex.top_k = 10;
  ex.threads = 1;
  ex.exhaustive = true;
  auto full = search(in.m, in.c, in.t, ex);
  EXPECT_GT(pruned.time_pruned, 0);
  EXPECT_GT(pruned.memory_pruned, 0);
  EXPECT_EQ(full.time_pruned + full.memory_pruned, 0);
  EXPECT_EQ(pruned.layouts, full.layouts);
  EXPECT_EQ(full.evaluated, full.layouts);
  EXPECT_EQ(pruned.evaluated + pruned.time_pruned + pruned.memory_pruned, pruned.layouts);
  EXPECT_LT(pruned.predicted * 10, full.predicted);  // the point of it
  ASSERT_EQ(pruned.top.size(), 10u);
  for (size_t i = 0; i < pruned.top.size(); ++i) {
    EXPECT_EQ(pruned.top[i].layout, full.top[i].layout) << i;
    EXPECT_EQ(pruned.top[i].cost.step_time_s, full.top[i].cost.step_time_s) << i;
  }
}

TEST(Search, ResultDoesNotDependOnTheThreadCount) {
  auto in = test::gpt3();
  auto one = run(in, 512, 20, {}, false, 1);
  auto two = run(in, 512, 20, {}, false, 2);
  // How much is pruned depends on how early the top list fills; the space and the list do not.
  EXPECT_EQ(one.layouts, two.layouts);
  ASSERT_EQ(one.top.size(), two.top.size());
  for (size_t i = 0; i < one.top.size(); ++i) EXPECT_EQ(one.top[i].layout, two.top[i].layout);
}

TEST(Search, Gpt3On1024A100sPicksTensorParallelismInsideANode) {
  auto r = run(test::gpt3(), 1024, 10);
  ASSERT_FALSE(r.top.empty());
  EXPECT_GT(r.layouts, 1000000);  // the space is large: ~2.9M layouts
  EXPECT_LE(r.top.front().layout.tp, 8);
  EXPECT_GT(r.top.front().cost.mfu, 0.2);
  EXPECT_LT(r.top.front().cost.mfu, 0.9);
}

TEST(Search, NothingFitsGivesAnEmptyTopAndTheSmallestLayout) {
  // GPT-3 175B on one GPU without offload: 175e9 x 16 bytes of model state, 2.8 TB.
  auto r = run(test::gpt3(), 1, 10, parse_fixed("offload=none"));
  EXPECT_TRUE(r.top.empty());
  EXPECT_GT(r.evaluated, 0);
  EXPECT_EQ(r.feasible, 0);
  EXPECT_GT(r.smallest_memory_bytes, 175e9 * 16);
  EXPECT_EQ(r.smallest.gpus(), 1);
}

TEST(Search, ImpossiblePinsThrowNamingThePinAndTheFix) {
  auto in = test::gpt3();
  SearchOptions o;
  o.gpus = 1024;
  o.fixed = parse_fixed("tp=5");
  try {
    search(in.m, in.c, in.t, o);
    FAIL() << "tp=5 on 96 heads must throw";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("tp=5"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("96"), std::string::npos) << e.what();
  }
  o.fixed = parse_fixed("tp=3");  // divides 96 heads, not 1024 GPUs
  EXPECT_THROW(search(in.m, in.c, in.t, o), Error);
  o.fixed = parse_fixed("pp=97");  // more stages than 96 layers
  EXPECT_THROW(search(in.m, in.c, in.t, o), Error);
  o.fixed = {};
  o.gpus = 1 << 20;  // more than the cluster
  EXPECT_THROW(search(in.m, in.c, in.t, o), Error);
}

TEST(Search, CancelFlagStopsTheSearch) {
  auto in = test::gpt3();
  std::atomic<bool> cancel{true};
  SearchOptions o;
  o.gpus = 1024;
  o.cancel = &cancel;
  auto r = search(in.m, in.c, in.t, o);
  EXPECT_TRUE(r.cancelled);
  EXPECT_EQ(r.evaluated, 0);
}

TEST(Search, ProgressIsReportedFromTheCallingThreadAndEndsAtOne) {
  auto in = test::gpt3();
  std::vector<double> seen;
  SearchOptions o;
  o.gpus = 1024;
  o.progress = [&](double f) { seen.push_back(f); };
  search(in.m, in.c, in.t, o);
  ASSERT_FALSE(seen.empty());
  EXPECT_DOUBLE_EQ(seen.back(), 1.0);
  EXPECT_TRUE(std::is_sorted(seen.begin(), seen.end()));
}

}  // namespace
}  // namespace parplan::planner
