#include "layout_choices.hpp"

#include <gtest/gtest.h>

#include <algorithm>

#include "parplan/model/io.hpp"

namespace parplan::gui {
namespace {

bool contains(const std::vector<int32_t>& v, int32_t x) {
  return std::find(v.begin(), v.end(), x) != v.end();
}

TEST(LayoutChoices, TpChoicesAreDivisorsOfTheHeadsWithinTheGpus) {
  Model m = load_model("gpt3-175b");  // 96 heads
  Training t = load_training("gpt3-1536");
  auto c = layout_choices(m, t, 1024, Layout{});
  for (int32_t tp : c.tp) EXPECT_EQ(m.heads % tp, 0) << tp;
  EXPECT_TRUE(contains(c.tp, 8));
  EXPECT_TRUE(contains(c.tp, 96));
  EXPECT_FALSE(contains(c.tp, 5));
  auto small = layout_choices(m, t, 4, Layout{});
  EXPECT_EQ(small.tp.back(), 4);
}

TEST(LayoutChoices, TpRespectsGroupedQueryHeads) {
  Model m = load_model("llama3-8b");  // 32 heads, 8 kv heads
  Training t = load_training("llama3-8k");
  for (int32_t tp : layout_choices(m, t, 1024, Layout{}).tp)
    EXPECT_TRUE(m.kv_heads % tp == 0 || tp % m.kv_heads == 0) << tp;
}

TEST(LayoutChoices, DpIsDerivedSoTheLayoutFitsTheGpusAndDividesTheBatch) {
  Model m = load_model("gpt3-175b");
  Training t = load_training("gpt3-1536");
  Layout l;
  l.tp = 8;
  l.pp = 8;
  l.dp = 1;
  Layout c = constrain_layout(l, m, t, 1024, true);
  EXPECT_EQ(c.dp, 16);  // 1024 / 64
  EXPECT_EQ(c.gpus(), 1024);
  // 1000 GPUs: 1000 / 64 = 15 at most, and dp must divide 1536: 12.
  c = constrain_layout(l, m, t, 1000, true);
  EXPECT_EQ(c.dp, 12);
  EXPECT_LE(c.gpus(), 1000);
}

TEST(LayoutChoices, ConstrainedLayoutsAlwaysValidate) {
  Cluster cl = load_cluster("dgx-a100-80g");
  for (const char* name : {"gpt3-175b", "llama3-8b", "shakespeare-char", "gpt2-124m"}) {
    Model m = load_model(name);
    for (const char* tn : {"gpt3-1536", "shakespeare-char", "gpt2-512"}) {
      Training t = load_training(tn);
      for (int64_t g : {1, 3, 4, 8, 96, 1024}) {
        for (int32_t tp : {1, 2, 8, 64}) {
          Layout l;
          l.tp = tp;
          l.pp = 4;
          l.cp = 2;
          l.micro_batch = 4;
          l.sequence_parallel = true;
          Layout c = constrain_layout(l, m, t, g, true);
          Diagnostics d;
          validate(c, m, cl, t, d);
          EXPECT_TRUE(d.ok()) << name << " " << tn << " gpus=" << g << " " << describe(c) << ": "
                              << (d.errors.empty() ? "" : d.errors.front());
          EXPECT_LE(c.gpus(), g);
        }
      }
    }
  }
}

TEST(LayoutChoices, CpKindShardGroupAndTilesChoices) {
  Model m = load_model("llama3-8b");  // 32 heads, 8 KV heads
  Training t = load_training("llama3-8k");
  Layout l;
  l.tp = 8;
  l.cp = 8;
  l.dp = 1;
  auto c = layout_choices(m, t, 64, l);
  // Every kind with cp > 1, Ulysses included although 8 does not split 32 / 8 heads: the window
  // shows the model's error for it instead of hiding it.
  EXPECT_EQ(c.cp_kind, (std::vector<CpKind>{CpKind::Ring, CpKind::Ulysses, CpKind::Usp}));
  l.cp_kind = CpKind::Ulysses;
  EXPECT_EQ(constrain_layout(l, m, t, 64, false).cp_kind, CpKind::Ulysses);
  l.cp = 1;
  EXPECT_EQ(layout_choices(m, t, 64, l).cp_kind, std::vector<CpKind>{CpKind::Ring});
  EXPECT_EQ(constrain_layout(l, m, t, 64, false).cp_kind, CpKind::Ring);
  // USP's Ulysses share is kept while it divides cp and reset to derived (0) when not.
  l.cp = 8;
  l.cp_kind = CpKind::Usp;
  l.ulysses = 4;
  EXPECT_EQ(constrain_layout(l, m, t, 64, false).ulysses, 4);
  l.cp = 2;
  EXPECT_EQ(constrain_layout(l, m, t, 64, false).ulysses, 0);
  // HSDP: with ZeRO-3 the divisors of dp below it; without, only 0 (the whole DP group).
  Layout z;
  z.dp = 16;  // divides the global batch of 2,048
  z.zero = 3;
  EXPECT_EQ(layout_choices(m, t, 16, z).shard_group, (std::vector<int32_t>{0, 1, 2, 4, 8}));
  z.shard_group = 8;
  EXPECT_EQ(constrain_layout(z, m, t, 16, false).shard_group, 8);
  z.shard_group = 16;  // all of dp: the same layout as 0
  EXPECT_EQ(constrain_layout(z, m, t, 16, false).shard_group, 0);
  z.shard_group = 8;
  z.zero = 2;
  EXPECT_EQ(layout_choices(m, t, 16, z).shard_group, std::vector<int32_t>{0});
  EXPECT_EQ(constrain_layout(z, m, t, 16, false).shard_group, 0);
  EXPECT_EQ(c.tiles, (std::vector<int32_t>{1, 2, 4, 8, 16, 32, 64}));
}

}  // namespace
}  // namespace parplan::gui
