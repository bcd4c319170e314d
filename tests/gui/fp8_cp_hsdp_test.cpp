// The FP8 dtype and recipe, CP kind, HSDP shard group and tiles controls: each feeds the
// prediction as the cost model computes it, and an invalid combination shows the model's error.
#include <gtest/gtest.h>

#include <QComboBox>
#include <QLabel>

#include "charts/memory_chart.hpp"
#include "gui_test_support.hpp"
#include "main_window.hpp"
#include "parplan/cost/step.hpp"

namespace parplan::gui {
namespace {

using test::choose;

constexpr double kGiB = double(1ull << 30);

// Llama 3 8B (32 heads, 8 KV heads, 32 layers), 8K tokens, 64 H100s, with layout `l` as a
// planner row would set it.
void setup(MainWindow& w, const Layout& l, const char* cluster = "dgx-h100-80g") {
  ASSERT_TRUE(w.set_model("llama3-8b")) << w.status_text().toStdString();
  ASSERT_TRUE(w.set_training("llama3-8k")) << w.status_text().toStdString();
  ASSERT_TRUE(w.set_cluster(cluster)) << w.status_text().toStdString();
  ASSERT_TRUE(w.set_gpus(64)) << w.status_text().toStdString();
  w.apply_layout(l);
  ASSERT_EQ(w.layout(), l);
}

Layout tp4_dp16() {
  Layout l;
  l.tp = 4;
  l.dp = 16;
  l.zero = 1;
  l.recompute = Recompute::Selective;
  l.sequence_parallel = true;
  return l;
}

// The window shows exactly cost::predict's step for its inputs.
cost::StepCost expect_cost_models(const MainWindow& w) {
  cost::StepCost s = cost::predict(w.model(), w.cluster(), w.training(), w.layout());
  EXPECT_TRUE(w.prediction().has_value()) << w.status_text().toStdString();
  if (!w.prediction()) return s;
  EXPECT_DOUBLE_EQ(w.prediction()->step_time_s, s.step_time_s);
  EXPECT_DOUBLE_EQ(w.prediction()->time.compute, s.time.compute);
  EXPECT_DOUBLE_EQ(w.prediction()->time.cp_comm, s.time.cp_comm);
  EXPECT_DOUBLE_EQ(w.prediction()->memory.total, s.memory.total);
  EXPECT_NEAR(w.memory_chart()->value_GiB("buffers"), s.memory.buffers / kGiB, 1e-9);
  EXPECT_NEAR(w.memory_chart()->value_GiB("optimizer"), s.memory.optimizer / kGiB, 1e-9);
  return s;
}

TEST(GuiFp8, Fp8StepIsFasterThanBf16OnH100AndTheRecipeCounts) {
  MainWindow w;
  setup(w, tp4_dp16());
  auto* recipe = w.findChild<QComboBox*>("fp8_recipe");
  ASSERT_NE(recipe, nullptr);
  EXPECT_FALSE(recipe->isEnabled());  // bf16: no recipe to choose
  const cost::StepCost bf16 = expect_cost_models(w);

  choose(w, "dtype", int(DType::FP8));
  EXPECT_EQ(w.training().dtype, DType::FP8);
  EXPECT_EQ(w.layout(), tp4_dp16());  // the layout is unchanged (dp is already the GPUs left)
  EXPECT_TRUE(recipe->isEnabled());
  const cost::StepCost delayed = expect_cost_models(w);
  // The MFU shown states its peak: FP8's dense peak on an FP8 run, BF16's otherwise.
  auto* metrics = w.findChild<QLabel*>("metrics");
  ASSERT_NE(metrics, nullptr);
  EXPECT_TRUE(metrics->text().contains("of the fp8 dense peak, 1979 TFLOP/s", Qt::CaseInsensitive))
      << metrics->text().toStdString();
  // Only the linear GEMMs move to the FP8 peak (1,979 vs 989 TFLOP/s, examples/clusters): the
  // compute falls, but by less than the peaks' ratio, since attention and the logits stay BF16.
  EXPECT_LT(delayed.time.compute, bf16.time.compute);
  EXPECT_GT(delayed.time.compute, bf16.time.compute * 989.0 / 1979.0);
  EXPECT_LT(delayed.step_time_s, bf16.step_time_s);

  // Current scaling reads each tensor once more for its amax (cost/src/fp8.cpp): slower.
  choose(w, "fp8_recipe", int(Fp8Recipe::Current));
  EXPECT_EQ(w.training().fp8_recipe, Fp8Recipe::Current);
  const cost::StepCost current = expect_cost_models(w);
  EXPECT_GT(current.step_time_s, delayed.step_time_s);

  choose(w, "fp8_recipe", int(Fp8Recipe::Blockwise));
  EXPECT_EQ(w.training().fp8_recipe, Fp8Recipe::Blockwise);
  expect_cost_models(w);

  choose(w, "dtype", int(DType::BF16));
  EXPECT_FALSE(recipe->isEnabled());
  EXPECT_TRUE(metrics->text().contains("of the bf16 dense peak, 989 TFLOP/s", Qt::CaseInsensitive))
      << metrics->text().toStdString();
  EXPECT_DOUBLE_EQ(expect_cost_models(w).step_time_s, bf16.step_time_s);
}

TEST(GuiFp8, Fp8OnAGpuWithoutAnFp8PeakShowsTheModelsError) {
  MainWindow w;
  setup(w, tp4_dp16(), "dgx-a100-80g");
  choose(w, "dtype", int(DType::FP8));
  EXPECT_FALSE(w.prediction().has_value());
  EXPECT_TRUE(w.status_text().contains("has no peak for the training dtype fp8"))
      << w.status_text().toStdString();
}

TEST(GuiCpKind, UlyssesThatCannotSplitTheHeadsShowsTheErrorThenPredictsWhenItCan) {
  MainWindow w;
  Layout l;
  l.tp = 8;
  l.cp = 8;
  l.dp = 1;
  l.recompute = Recompute::Selective;
  l.sequence_parallel = true;
  setup(w, l);
  auto* kind = w.findChild<QComboBox*>("cp_kind");
  ASSERT_NE(kind, nullptr);
  EXPECT_TRUE(kind->isEnabled());
  expect_cost_models(w);  // ring

  // tp 8 leaves 32 / 8 = 4 heads per rank: Ulysses over 8 ranks cannot split them.
  choose(w, "cp_kind", int(CpKind::Ulysses));
  EXPECT_EQ(w.layout().cp_kind, CpKind::Ulysses);
  EXPECT_FALSE(w.prediction().has_value());
  EXPECT_TRUE(w.status_text().contains("layout.cp_kind")) << w.status_text().toStdString();
  EXPECT_TRUE(w.status_text().contains("must divide the heads per TP rank (4)"))
      << w.status_text().toStdString();

  // tp 2: 16 heads and 4 KV heads per rank; Ulysses 8 splits the heads and repeats the KV heads.
  choose(w, "tp", 2);
  EXPECT_EQ(w.layout().tp, 2);
  EXPECT_EQ(w.layout().cp_kind, CpKind::Ulysses);  // the choice survives the tp change
  EXPECT_EQ(w.layout().dp, 4);                     // the GPUs left: 64 / (2 * 8)
  const cost::StepCost ulysses = expect_cost_models(w);
  EXPECT_GT(ulysses.memory.buffers, 0.0);

  auto* share = w.findChild<QComboBox*>("ulysses");
  ASSERT_NE(share, nullptr);
  EXPECT_FALSE(share->isEnabled());  // a share only for USP
  choose(w, "cp_kind", int(CpKind::Usp));
  EXPECT_EQ(w.layout().cp_kind, CpKind::Usp);
  EXPECT_TRUE(share->isEnabled());
  EXPECT_EQ(w.layout().ulysses, 0);  // derived by the cost model
  expect_cost_models(w);
  // USP's share: Ulysses over 2 ranks, ring over 4; at its extremes USP is ring (1) or Ulysses (8).
  for (int u : {0, 1, 2, 4, 8}) EXPECT_GE(share->findData(u), 0) << u;
  EXPECT_LT(share->findData(3), 0);
  choose(w, "ulysses", 2);
  EXPECT_EQ(w.layout().ulysses, 2);
  expect_cost_models(w);
  Layout as_ring = w.layout(), as_ulysses = w.layout();
  as_ring.cp_kind = CpKind::Ring;
  as_ring.ulysses = 0;
  as_ulysses.cp_kind = CpKind::Ulysses;
  as_ulysses.ulysses = 0;
  choose(w, "ulysses", 1);
  EXPECT_NEAR(expect_cost_models(w).step_time_s,
              cost::predict(w.model(), w.cluster(), w.training(), as_ring).step_time_s,
              1e-12 * ulysses.step_time_s);
  choose(w, "ulysses", 8);
  EXPECT_NEAR(expect_cost_models(w).step_time_s, ulysses.step_time_s, 1e-12 * ulysses.step_time_s);
  EXPECT_NEAR(w.prediction()->memory.total,
              cost::predict(w.model(), w.cluster(), w.training(), as_ulysses).memory.total, 1.0);
  // Back to ring: the share goes.
  choose(w, "cp_kind", int(CpKind::Ring));
  EXPECT_EQ(w.layout().ulysses, 0);
  EXPECT_FALSE(share->isEnabled());

  // cp 1 has no CP kind: back to ring, the control disabled.
  choose(w, "cp", 1);
  EXPECT_EQ(w.layout().cp_kind, CpKind::Ring);
  EXPECT_FALSE(kind->isEnabled());
  expect_cost_models(w);
}

TEST(GuiHsdp, ShardGroupIsOfferedWithZero3AndDividesTheShardedStates) {
  MainWindow w;
  Layout l = tp4_dp16();
  setup(w, l);
  auto* group = w.findChild<QComboBox*>("shard_group");
  ASSERT_NE(group, nullptr);
  EXPECT_FALSE(group->isEnabled());  // ZeRO-1: no HSDP
  choose(w, "zero", 3);
  EXPECT_TRUE(group->isEnabled());
  // dp 16: groups of 1, 2, 4 or 8 ranks, or 0 (all 16).
  for (int g : {0, 1, 2, 4, 8}) EXPECT_GE(group->findData(g), 0) << g;
  EXPECT_LT(group->findData(16), 0);
  EXPECT_LT(group->findData(3), 0);
  const cost::StepCost full = expect_cost_models(w);

  choose(w, "shard_group", 4);
  EXPECT_EQ(w.layout().shard_group, 4);
  const cost::StepCost hsdp = expect_cost_models(w);
  // A dense model's optimizer states and gradients shard over 4 ranks instead of 16: 4x per GPU.
  EXPECT_NEAR(hsdp.memory.optimizer, 4.0 * full.memory.optimizer, 1e-6 * hsdp.memory.optimizer);
  EXPECT_NEAR(hsdp.memory.grads, 4.0 * full.memory.grads, 1e-6 * hsdp.memory.grads);

  // Below ZeRO-3 a shard group means nothing: it falls back to the whole DP group.
  choose(w, "zero", 2);
  EXPECT_EQ(w.layout().shard_group, 0);
  EXPECT_FALSE(group->isEnabled());
}

TEST(GuiTiles, TilesDivideTheGatheredLayersOfZero3) {
  MainWindow w;
  Layout l = tp4_dp16();
  l.zero = 3;
  setup(w, l);
  const cost::StepCost one = expect_cost_models(w);
  ASSERT_GT(one.memory.gathered_layers, 0.0);
  choose(w, "tiles", 4);
  EXPECT_EQ(w.layout().tiles, 4);
  const cost::StepCost four = expect_cost_models(w);
  // ZeRO-Infinity sec. 5: the layer is gathered one tile at a time, a quarter of the bytes.
  EXPECT_NEAR(four.memory.gathered_layers, one.memory.gathered_layers / 4.0,
              1e-9 * one.memory.gathered_layers);
  EXPECT_NEAR(one.memory.buffers - four.memory.buffers, 0.75 * one.memory.gathered_layers,
              1e-6 * one.memory.buffers);
}

}  // namespace
}  // namespace parplan::gui
