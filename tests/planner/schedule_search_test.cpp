// The zero-bubble and DualPipe schedules in the planner: searched where the framework file lists
// them, exported with the framework's own names, refused where the framework does not run them.
#include <gtest/gtest.h>

#include "export_checks.hpp"
#include "fixtures.hpp"
#include "parplan/cost/pipeline.hpp"
#include "parplan/planner/export.hpp"
#include "parplan/planner/search.hpp"
#include "search_space.hpp"

namespace parplan::planner {
namespace {

using test::has;
using test::refusal;

bool contains(const std::vector<detail::ScheduleChoice>& v, Schedule s) {
  for (const auto& c : v)
    if (c.schedule == s) return true;
  return false;
}

TEST(ScheduleSearch, ChoicesFollowTheFrameworkFile) {
  auto in = test::gpt3();  // 96 layers
  std::vector<detail::ScheduleChoice> out;
  Fixed f;
  in.t.framework = "megatron-core";
  detail::schedule_choices(in.m, in.t, f, 8, 64, out);
  EXPECT_EQ(out.front().schedule, Schedule::OneFOneB);
  EXPECT_FALSE(contains(out, Schedule::ZbV));
  EXPECT_FALSE(contains(out, Schedule::DualPipeV));
  in.t.framework = "fsdp2";  // torchtitan: ZBVZeroBubble, DualPipeV
  detail::schedule_choices(in.m, in.t, f, 8, 64, out);
  EXPECT_EQ(out.front().schedule, Schedule::OneFOneB);
  EXPECT_TRUE(contains(out, Schedule::ZbV));
  EXPECT_TRUE(contains(out, Schedule::DualPipeV));
  EXPECT_FALSE(contains(out, Schedule::ZbH1));
  // DualPipeV needs 2 pp micro-batches (deepseek-ai/DualPipe dualpipev.py).
  detail::schedule_choices(in.m, in.t, f, 8, 15, out);
  EXPECT_FALSE(contains(out, Schedule::DualPipeV));
  EXPECT_TRUE(contains(out, Schedule::ZbV));
}

// torchtitan's best pipelined layout of GPT-3 on 64 GPUs, tp 8 and pp 8 pinned: a zero-bubble or
// DualPipe schedule beats 1F1B and interleaved (their bubble is (p - 1)/3 or less of a stage-time
// per micro-batch against (p - 1)/v), and the pruned search finds what the exhaustive one does.
TEST(ScheduleSearch, TorchtitanPicksAZeroBubbleScheduleForADeepPipeline) {
  auto in = test::gpt3();
  in.t.framework = "fsdp2";
  SearchOptions o;
  o.gpus = 64;
  o.top_k = 3;
  o.fixed = parse_fixed("tp=8,pp=8,zero=1");
  const SearchResult r = search(in.m, in.c, in.t, o);
  ASSERT_FALSE(r.top.empty());
  const Schedule s = r.top.front().layout.schedule;
  EXPECT_TRUE(s == Schedule::ZbV || s == Schedule::DualPipeV) << describe(r.top.front().layout);
  o.exhaustive = true;
  const SearchResult full = search(in.m, in.c, in.t, o);
  ASSERT_EQ(full.top.size(), r.top.size());
  for (size_t i = 0; i < r.top.size(); ++i) EXPECT_EQ(full.top[i].layout, r.top[i].layout) << i;
  // Megatron-Core runs neither: 1F1B or interleaved.
  in.t.framework = "megatron-core";
  o.exhaustive = false;
  const SearchResult mc = search(in.m, in.c, in.t, o);
  ASSERT_FALSE(mc.top.empty());
  EXPECT_FALSE(cost::splits_weight_grad(mc.top.front().layout.schedule));
}

TEST(ScheduleExport, TorchtitanNamesTheScheduleAndMegatronRefusesIt) {
  auto in = test::presets("llama3-70b", "dgx-h100-80g", "llama3-8k");
  Plan p;
  p.model = in.m;
  p.cluster = in.c;
  p.training = in.t;
  p.training.framework = "fsdp2";
  p.layout = Layout{8, 8, 8, 1, 1, 2, Recompute::Selective, true, Schedule::ZbV, 1, Offload::None};
  std::string s = export_files(p, ExportFormat::Torchtitan).front().text;
  EXPECT_TRUE(has(s, "--parallelism.pipeline_parallel_schedule ZBVZeroBubble")) << s;
  // 80 layers in 16 stages of 5 (two per rank).
  EXPECT_TRUE(has(s, "--parallelism.pipeline_parallel_layers_per_stage 5")) << s;
  p.layout.schedule = Schedule::DualPipeV;
  s = export_files(p, ExportFormat::Torchtitan).front().text;
  EXPECT_TRUE(has(s, "--parallelism.pipeline_parallel_schedule DualPipeV")) << s;
  p.layout.schedule = Schedule::ZbH1;
  EXPECT_TRUE(has(refusal(p, ExportFormat::Torchtitan), "zb-h1"));
  p.layout.zero = 1;
  p.training.framework = "megatron-core";
  EXPECT_TRUE(has(refusal(p, ExportFormat::Megatron), "Megatron-LM does not run"))
      << refusal(p, ExportFormat::Megatron);
  p.training.framework = "deepspeed";
  EXPECT_TRUE(has(refusal(p, ExportFormat::DeepSpeed), "1F1B only"))
      << refusal(p, ExportFormat::DeepSpeed);
}

}  // namespace
}  // namespace parplan::planner
