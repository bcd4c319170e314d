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

}  // namespace
}  // namespace parplan::gui
