// The search on GB200 NVL72 (72-GPU NVLink domains of 4-GPU trays): the best layouts of a dense
// Llama 3 405B and a DeepSeek-V3-class MoE on 1,024 GB200s put their tensor / expert groups on
// the rack's NVLink beyond one tray, and beat the same racks without the domain; R8 reads the
// domain (planner/src/search.cpp ep_choices, rules.cpp R8, cost/src/collectives.cpp place).
#include <gtest/gtest.h>

#include "export_checks.hpp"
#include "fixtures.hpp"
#include "parplan/cost/collectives.hpp"
#include "parplan/cost/moe.hpp"
#include "parplan/planner/rules.hpp"
#include "parplan/planner/search.hpp"

namespace parplan::planner {
namespace {

SearchResult run(const test::Inputs& in, int64_t gpus, const std::string& fix = "") {
  SearchOptions o;
  o.gpus = gpus;
  o.top_k = 16;
  o.threads = 2;
  o.fixed = parse_fixed(fix);
  return search(in.m, in.c, in.t, o);
}

// The same racks with NVLink ending at each 4-GPU tray.
test::Inputs trays_only(test::Inputs in) {
  in.c.nvlink_domain_gpus = in.c.gpus_per_node;
  return in;
}

const RuleReport& rule(const std::vector<RuleReport>& v, const std::string& id) {
  for (const auto& r : v)
    if (r.id == id) return r;
  throw std::runtime_error("no rule " + id);
}

TEST(Nvl72Search, Llama3_405bOn1024Gb200PutsTensorAndContextGroupsOnTheRacksNvlink) {
  const auto in = test::presets("llama3-405b", "gb200-nvl72", "llama3-8k");
  const SearchResult r = run(in, 1024);
  ASSERT_FALSE(r.top.empty());
  const Layout& l = r.top.front().layout;
  const cost::Placement p = cost::place(l, in.c);
  // The model-parallel group inside a pipeline stage spans more than one tray, on NVLink.
  EXPECT_GT(int64_t(l.tp) * l.cp, in.c.gpus_per_node) << describe(l);
  EXPECT_FALSE(p.tp.spans_nodes()) << describe(l);
  EXPECT_FALSE(p.cp.spans_nodes()) << describe(l);
  // Without the rack's domain the best plan is slower.
  const SearchResult t = run(trays_only(in), 1024);
  ASSERT_FALSE(t.top.empty());
  EXPECT_LT(r.top.front().cost.step_time_s, t.top.front().cost.step_time_s)
      << describe(l) << " vs trays only " << describe(t.top.front().layout);
}

TEST(Nvl72Search, DeepSeekV3On1024Gb200KeepsExpertGroupsBeyondATrayInsideTheRack) {
  const auto in = test::presets("deepseek-v3", "gb200-nvl72", "deepseek-v3-4k");
  const SearchResult r = run(in, 1024);
  ASSERT_FALSE(r.top.empty());
  const Layout& l = r.top.front().layout;
  EXPECT_GT(int64_t(l.ep) * l.etp, in.c.gpus_per_node) << describe(l);
  EXPECT_FALSE(cost::ep_group(l, in.c).spans_nodes()) << describe(l);
  const SearchResult t = run(trays_only(in), 1024);
  ASSERT_FALSE(t.top.empty());
  EXPECT_LT(r.top.front().cost.step_time_s, t.top.front().cost.step_time_s)
      << describe(l) << " vs trays only " << describe(t.top.front().layout);
}

TEST(Nvl72Rules, R8AcceptsTensorParallelismAcrossTraysWithinTheDomain) {
  auto in = test::presets("gpt3-175b", "gb200-nvl72", "gpt3-1536");
  const SearchResult r = run(in, 1024, "tp=16,pp=8");
  const auto v = evaluate_rules(in.m, in.c, in.t, 1024, r);
  const auto& r8 = rule(v, "R8");
  EXPECT_EQ(r8.verdict, Verdict::Agrees) << r8.detail;
  EXPECT_EQ(r8.numbers["nvlink_domain_gpus"].get<int>(), 72);
  EXPECT_EQ(r8.numbers["job_gpus_per_domain"].get<int>(), 64);  // 16-tray segments
  EXPECT_NE(r8.recommendation.find("tp <= 64"), std::string::npos) << r8.recommendation;
  EXPECT_NE(r8.detail.find("spans 4 nodes over NVLink"), std::string::npos) << r8.detail;
  // The same pin on 8-GPU B200 nodes crosses InfiniBand: R8 disagrees.
  in.c = load_cluster("dgx-b200");
  const SearchResult h = run(in, 1024, "tp=16,pp=8");
  const auto hv = evaluate_rules(in.m, in.c, in.t, 1024, h);
  const auto& h8 = rule(hv, "R8");
  EXPECT_EQ(h8.verdict, Verdict::Disagrees) << h8.detail;
  EXPECT_NE(h8.detail.find("tp=16 > 8 GPUs per node"), std::string::npos) << h8.detail;
}

TEST(Nvl72Search, Mxfp8IsRefusedOnHopperBeforeSearching) {
  auto in = test::presets("llama3-8b", "dgx-h100-80g", "llama3-8k");
  in.t.dtype = DType::FP8;
  in.t.fp8_recipe = Fp8Recipe::Mxfp8;
  try {
    run(in, 8);
    FAIL() << "MXFP8 searched on H100";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("mxfp8 needs Blackwell"), std::string::npos) << e.what();
  }
  in.c = load_cluster("dgx-b200");
  EXPECT_FALSE(run(in, 8).top.empty());
}

TEST(BlackwellExport, Nvfp4NamesMegatronsFp4SwitchesAndTorchtitanRefusesIt) {
  const auto in = test::presets("llama3-70b", "dgx-b200", "llama3-8k");
  Plan p;
  p.model = in.m;
  p.cluster = in.c;
  p.training = in.t;
  p.training.dtype = DType::FP8;
  p.training.fp8_recipe = Fp8Recipe::Nvfp4;
  p.layout = Layout{.dp = 16, .tp = 8, .pp = 1, .sequence_parallel = true};
  const std::string s = export_plan(p, ExportFormat::Megatron);
  test::expect_megatron_flags(s);  // --fp4-format / --fp4-recipe are Megatron-LM flags at d98e8a6
  EXPECT_TRUE(test::has(s, "--fp4-format e2m1")) << s;
  EXPECT_TRUE(test::has(s, "--fp4-recipe nvfp4")) << s;
  EXPECT_FALSE(test::has(s, "--fp8-recipe")) << s;
  EXPECT_TRUE(test::has(s, "--bf16")) << s;
  const std::string why = test::refusal(p, ExportFormat::Torchtitan);
  EXPECT_TRUE(test::has(why, "NVFP4")) << why;
  EXPECT_TRUE(test::has(why, "--fp4-recipe nvfp4")) << why;
  // MXFP8 keeps its --fp8-recipe on Blackwell.
  p.training.fp8_recipe = Fp8Recipe::Mxfp8;
  EXPECT_TRUE(test::has(export_plan(p, ExportFormat::Megatron), "--fp8-recipe mxfp8"));
}

}  // namespace
}  // namespace parplan::planner
