// The search over the CP kind, HSDP shard groups and tiles; their pins and the R11 rule.
#include <gtest/gtest.h>

#include "fixtures.hpp"
#include "parplan/cost/context_parallel.hpp"
#include "parplan/model/error.hpp"
#include "parplan/planner/rules.hpp"
#include "parplan/planner/search.hpp"

namespace parplan::planner {
namespace {

SearchResult run(const test::Inputs& in, int64_t gpus, const std::string& fix, int top = 50) {
  SearchOptions o;
  o.gpus = gpus;
  o.top_k = top;
  o.fixed = parse_fixed(fix);
  return search(in.m, in.c, in.t, o);
}

test::Inputs long_context() {
  auto in = test::presets("llama3-8b", "dgx-h100-80g", "llama3-8k");
  in.t.seq_len = 131072;
  in.t.global_batch = 16;
  return in;
}

TEST(SearchCp, ParseFixedReadsTheNewKeys) {
  Fixed f = parse_fixed("cp=8,cp_kind=ulysses,shard_group=8,tiles=4");
  EXPECT_EQ(f.cp_kind, CpKind::Ulysses);
  EXPECT_EQ(f.shard_group, 8);
  EXPECT_EQ(f.tiles, 4);
  EXPECT_EQ(parse_fixed("shard=0").shard_group, 0);
  EXPECT_THROW(parse_fixed("cp_kind=zigzag"), Error);
  EXPECT_THROW(parse_fixed("tiles=0"), Error);
}

TEST(SearchCp, PinnedUlyssesIsInEveryResult) {
  auto in = test::gpt2();  // 12 heads: Ulysses 4 splits them at tp 1
  auto r = run(in, 8, "cp=4,cp_kind=ulysses");
  ASSERT_FALSE(r.top.empty());
  for (const auto& c : r.top) {
    EXPECT_EQ(c.layout.cp, 4);
    EXPECT_EQ(c.layout.cp_kind, CpKind::Ulysses);
    EXPECT_EQ(12 / c.layout.tp % 4, 0) << describe(c.layout);
  }
}

TEST(SearchCp, UlyssesThatCannotSplitTheHeadsIsAnErrorNamingThePin) {
  auto in = test::gpt2();
  try {
    run(in, 8, "tp=2,cp=4,cp_kind=ulysses");
    FAIL();
  } catch (const Error& e) {
    const std::string m = e.what();
    EXPECT_NE(m.find("cp_kind=ulysses"), std::string::npos) << m;
    EXPECT_NE(m.find("heads per TP rank (6)"), std::string::npos) << m;
  }
}

TEST(SearchCp, TheSearchPicksTheFastestCpKindAndR11ExplainsIt) {
  // Llama 3 8B at 128K tokens on 64 H100s: the best plan uses CP; every kind the rule prices
  // with the plan's other dimensions is no faster than the one the search picked.
  auto in = long_context();
  SearchOptions o;
  o.gpus = 64;
  o.top_k = 1;
  auto r = search(in.m, in.c, in.t, o);
  ASSERT_FALSE(r.top.empty());
  const auto& best = r.top.front();
  ASSERT_GT(best.layout.cp, 1);
  auto rules = evaluate_rules(in.m, in.c, in.t, 64, r);
  const RuleReport& r11 = rules.at(10);  // R1..R11, then R12
  EXPECT_EQ(r11.id, "R11");
  ASSERT_TRUE(r11.fires);
  for (const char* k : {"ring", "ulysses", "usp"}) {
    const std::string key = std::string(k) + "_step_time_s";
    if (r11.numbers.contains(key)) {
      EXPECT_GE(r11.numbers[key].get<double>(), best.cost.step_time_s) << k;
    }
  }
  EXPECT_NE(r11.detail.find("the search picked"), std::string::npos);
}

TEST(SearchCp, UspIsSearchedOnlyWhereItDiffersFromRingAndUlysses) {
  auto in = long_context();
  auto r = run(in, 64, "cp_kind=usp", 200);
  ASSERT_FALSE(r.top.empty());
  for (const auto& c : r.top) {
    if (c.layout.cp == 1) continue;
    const int32_t u = cost::ulysses_degree(in.m, in.c, c.layout);
    EXPECT_GT(u, 1) << describe(c.layout);
    EXPECT_LT(u, c.layout.cp) << describe(c.layout);
  }
}

TEST(SearchHsdp, PinnedShardGroupsAndTilesAreInEveryResult) {
  auto in = test::presets("llama2-7b", "dgx-a100-80g", "gpt3-1536");
  auto r = run(in, 64, "tp=1,pp=1,cp=1,zero=3,shard_group=8,tiles=2", 20);
  ASSERT_FALSE(r.top.empty());
  for (const auto& c : r.top) {
    EXPECT_EQ(c.layout.shard_group, 8);
    EXPECT_EQ(c.layout.tiles, 2);
  }
}

TEST(SearchHsdp, NodeSizedShardGroupsAreSearchedWithZero3) {
  auto in = test::presets("llama2-7b", "dgx-a100-80g", "gpt3-1536");
  auto r = run(in, 64, "tp=1,pp=1,cp=1,zero=3,offload=none", 1000);
  bool hsdp = false, full = false;
  for (const auto& c : r.top) {
    if (c.layout.shard_group == 8) hsdp = true;
    if (c.layout.shard_group == 0) full = true;
    EXPECT_TRUE(c.layout.shard_group == 0 || c.layout.shard_group == 8) << describe(c.layout);
  }
  EXPECT_TRUE(hsdp);
  EXPECT_TRUE(full);
}

TEST(SearchHsdp, ShardGroupPinsWithoutZero3AreAnError) {
  auto in = test::presets("llama2-7b", "dgx-a100-80g", "gpt3-1536");
  try {
    run(in, 64, "zero=1,shard_group=8");
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("zero=3"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace parplan::planner
