// Pipeline schedules priced end to end (cost/pipeline.hpp through predict): DeepSeek-V3's
// published layout under DualPipe next to 1F1B, zero-bubble on a dense model.
#include <gtest/gtest.h>

#include <cstdio>

#include <nlohmann/json.hpp>

#include "parplan/cost/corpus.hpp"
#include "parplan/cost/framework.hpp"
#include "parplan/cost/memory.hpp"
#include "parplan/cost/pipeline.hpp"
#include "parplan/cost/step.hpp"
#include "../support/corpus_row.hpp"

using namespace parplan;
using namespace parplan::cost;

namespace {
CorpusRun deepseek_v3() { return test::corpus_row("deepseek-v3/pretrain-2048-h800"); }
double gib(double b) { return b / (1024.0 * 1024.0 * 1024.0); }
}  // namespace

// DeepSeek-V3 (report sec. 3.2): 2,048 H800, PP 16, EP 64, ZeRO-1, first/last stages 3 and 2
// layers, trained with DualPipe. Priced both ways; the numbers are printed for the report.
TEST(Schedules, DeepSeekV3PublishedLayoutWithDualPipeNextTo1F1B) {
  const CorpusRun r = deepseek_v3();
  Layout one = r.layout;
  one.schedule = Schedule::OneFOneB;
  Layout dual = r.layout;
  dual.schedule = Schedule::DualPipe;
  const StepCost a = predict(r.model, r.cluster, r.training, one);
  const StepCost b = predict(r.model, r.cluster, r.training, dual);
  std::printf("DeepSeek-V3 2048 H800 pp16 ep64, %lld micro-batches:\n"
              "  1f1b     step %.3f s  bubble %.3f s  pp comm %.3f s  peak %.1f GiB "
              "(params+grads+opt %.1f, activations %.1f)\n"
              "  dualpipe step %.3f s  bubble %.3f s  pp comm %.3f s  peak %.1f GiB "
              "(params+grads+opt %.1f, activations %.1f)\n",
              (long long)a.micro_batches, a.step_time_s, a.time.pp_bubble, a.time.pp_comm,
              gib(a.memory.total), gib(a.memory.params + a.memory.grads + a.memory.optimizer),
              gib(a.memory.activations), b.step_time_s, b.time.pp_bubble, b.time.pp_comm,
              gib(b.memory.total), gib(b.memory.params + b.memory.grads + b.memory.optimizer),
              gib(b.memory.activations));
  // DeepSeek-V3 Table 2: a smaller bubble ((PP/2 - 1)(F&B + B - 3W) against (PP - 1)(F + B)),
  // steady-state sends hidden, twice the parameters, PP + 1 micro-batches of activations.
  // (PP/2 - 1)(F + 2B - 3W) / ((PP - 1)(F + B)) = 7/15 x (2 - F - 3W) with DeepSeek-V3's shares
  // (F and W about 0.3 and 0.2 of F + B): about half of 1F1B's bubble.
  EXPECT_LT(b.time.pp_bubble, 0.6 * a.time.pp_bubble);
  EXPECT_GT(b.time.pp_bubble, 0.4 * a.time.pp_bubble);
  EXPECT_LT(b.time.pp_comm, a.time.pp_comm);
  EXPECT_LT(b.step_time_s, a.step_time_s);
  const MemoryBreakdown m1 = memory_per_gpu(r.model, r.cluster, r.training, one, 0);
  const MemoryBreakdown m2 = memory_per_gpu(r.model, r.cluster, r.training, dual, 0);
  // GPU 0 holds stage 0 (3 layers, embedding) and stage 15 (2 layers, head, MTP) under DualPipe.
  EXPECT_GT(m2.params, 1.5 * m1.params);
  EXPECT_GT(b.memory.total, a.memory.total);
  // The training file's all-to-all overlap is Megatron's under 1F1B (one more micro-batch in
  // flight: 17 on stage 0); DualPipe's own count is PP + 1 = 17 stages of (3 + 2) / 2 layers.
  EXPECT_NEAR(m1.layer_activations / m2.layer_activations, 3.0 / 2.5, 1e-9);
}

// Zero-bubble on a dense pipeline: the bubble falls to about a third of 1F1B's (the W GEMMs fill
// it), every stage holds p micro-batches, and the step is shorter.
TEST(Schedules, ZeroBubbleShrinksTheBubbleOfADensePipeline) {
  const CorpusRun r = deepseek_v3();  // its cluster; a dense GPT on it
  Model m;
  m.name = "gpt-20b";
  m.layers = 48;
  m.hidden = 6144;
  m.heads = 48;
  m.kv_heads = 48;
  m.ffn_hidden = 4 * 6144;
  m.vocab = 51200;
  m.max_seq_len = 4096;
  Training t;
  t.global_batch = 64;
  t.seq_len = 2048;
  Layout l;
  l.tp = 8;
  l.pp = 8;
  l.micro_batch = 1;
  l.recompute = Recompute::Selective;
  l.sequence_parallel = true;
  const StepCost a = predict(m, r.cluster, t, l);
  l.schedule = Schedule::ZbH1;
  const StepCost h1 = predict(m, r.cluster, t, l);
  l.schedule = Schedule::ZbV;
  const StepCost zv = predict(m, r.cluster, t, l);
  std::printf("dense 20B tp8 pp8, 64 micro-batches: bubble 1f1b %.4f s, zb-h1 %.4f s, zb-v %.4f s\n",
              a.time.pp_bubble, h1.time.pp_bubble, zv.time.pp_bubble);
  EXPECT_LT(h1.time.pp_bubble, 0.5 * a.time.pp_bubble);
  EXPECT_GT(h1.time.pp_bubble, 0.2 * a.time.pp_bubble);
  EXPECT_LT(zv.time.pp_bubble, h1.time.pp_bubble);
  EXPECT_NEAR(h1.time.compute, a.time.compute, 1e-12 * a.time.compute);
  EXPECT_LT(h1.step_time_s, a.step_time_s);
  // Memory: the last stage holds p micro-batches instead of 1.
  Layout last = l;
  last.schedule = Schedule::OneFOneB;
  const MemoryBreakdown m1 = memory_per_gpu(m, r.cluster, t, last, 7);
  last.schedule = Schedule::ZbH1;
  const MemoryBreakdown mz = memory_per_gpu(m, r.cluster, t, last, 7);
  EXPECT_NEAR(mz.layer_activations, 8 * m1.layer_activations, 1e-6 * mz.layer_activations);
}

TEST(Schedules, InvalidDualPipeLayoutsAreRefusedWithTheField) {
  const CorpusRun r = deepseek_v3();
  Layout l = r.layout;
  l.schedule = Schedule::DualPipeV;  // V-shape with explicit first/last stage layers
  Diagnostics d;
  validate(l, r.model, r.cluster, r.training, d);
  EXPECT_FALSE(d.ok());
  l.first_stage_layers = l.last_stage_layers = 0;
  l.schedule = Schedule::DualPipe;
  l.pp = 15;
  Diagnostics d2;
  validate(l, r.model, r.cluster, r.training, d2);
  EXPECT_FALSE(d2.ok());
}

TEST(Schedules, FrameworkFilesSayWhichScheduleTheyRun) {
  Training t;
  t.framework = "fsdp2";
  EXPECT_TRUE(framework_behaviour(t).runs(Schedule::ZbV));
  EXPECT_TRUE(framework_behaviour(t).runs(Schedule::DualPipeV));
  EXPECT_FALSE(framework_behaviour(t).runs(Schedule::DualPipe));
  t.framework = "megatron-core";
  EXPECT_TRUE(framework_behaviour(t).runs(Schedule::Interleaved));
  EXPECT_FALSE(framework_behaviour(t).runs(Schedule::ZbH1));
  Diagnostics d;
  framework_from_json(nlohmann::json::parse(R"({"pipeline_schedules": ["1f1b", "zb-h9"]})"), d);
  EXPECT_FALSE(d.ok());
}
