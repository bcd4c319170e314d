// `parplan plan`, `explain` and `export` run as a user would (env PARPLAN_BIN).
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>

#include "run_cli.hpp"

namespace {

using Run = CliResult;

// Runs parplan with `args` (shell words); stderr joins stdout unless stdout_only.
Run parplan(const std::string& args, bool stdout_only = false) { return run_cli(args, stdout_only); }

bool has(const std::string& text, const std::string& what) {
  return text.find(what) != std::string::npos;
}

std::string temp_path(const std::string& name) {
  return (std::filesystem::temp_directory_path() / (name + "." + std::to_string(::getpid())))
      .string();
}

TEST(CliPlan, JsonHasTheSearchCountsBestTopAndRules) {
  auto r = parplan("plan --model gpt3-175b --gpus 64 --top 5 --json", true);
  ASSERT_EQ(r.code, 0) << r.out;
  auto j = nlohmann::json::parse(r.out);
  EXPECT_GT(j["evaluated"].get<int64_t>(), 0);
  EXPECT_GT(j["feasible"].get<int64_t>(), 0);
  // Every layout of the space is evaluated or pruned.
  EXPECT_EQ(j["layouts"].get<int64_t>(),
            j["evaluated"].get<int64_t>() + j["pruned"].get<int64_t>());
  EXPECT_GE(j["search_time_s"].get<double>(), 0.0);
  EXPECT_EQ(j["best"]["layout"]["tp"].get<int>() * j["best"]["layout"]["pp"].get<int>() *
                j["best"]["layout"]["dp"].get<int>() * j["best"]["layout"]["cp"].get<int>(),
            64);
  EXPECT_GT(j["best"]["prediction"]["step_time_s"].get<double>(), 0.0);
  ASSERT_EQ(j["top"].size(), 5u);
  EXPECT_EQ(j["top"][0], j["best"]);
  EXPECT_LE(j["top"][0]["prediction"]["step_time_s"].get<double>(),
            j["top"][4]["prediction"]["step_time_s"].get<double>());
  ASSERT_EQ(j["rules"].size(), 12u);
  EXPECT_EQ(j["rules"][7]["id"], "R8");
  // R9/R10 numbers for every listed plan.
  EXPECT_EQ(j["top"][3]["scaling"]["effective_global_batch"], 1536);
  EXPECT_GT(j["top"][3]["scaling"]["scaled_learning_rate"].get<double>(), 0.0);
}

TEST(CliPlan, SimulateRanksTheTopKBySimulatedTimeOrSaysWhyItCannot) {
  auto r = parplan(
      "plan --model gpt2-124m --train gpt2-512 --gpus 8 --top 2 --simulate 2 --max-sim-s 60 --json",
      true);
  ASSERT_EQ(r.code, 0) << r.out;
  auto j = nlohmann::json::parse(r.out);
  if (j.contains("simulation_error")) {
    EXPECT_FALSE(j["simulation_error"].get<std::string>().empty());  // built without SimGrid
    return;
  }
  ASSERT_EQ(j["simulated"].size(), 2u);
  EXPECT_GT(j["simulated"][0]["simulated_step_time_s"].get<double>(), 0.0);
  EXPECT_LE(j["simulated"][0]["simulated_step_time_s"].get<double>(),
            j["simulated"][1]["simulated_step_time_s"].get<double>());
}

TEST(CliPlan, TablePrintsTheCountsAndTheRankedLayouts) {
  auto r = parplan("plan --model gpt2-124m --train gpt2-512 --gpus 8 --top 3", true);
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_TRUE(has(r.out, "layouts evaluated")) << r.out;
  EXPECT_TRUE(has(r.out, "rank"));
  EXPECT_TRUE(has(r.out, "R4 node-fits-ddp"));
}

TEST(CliPlan, FixIsRespected) {
  auto r = parplan("plan --model gpt3-175b --gpus 1024 --fix tp=8,pp=8,zero=1 --json", true);
  ASSERT_EQ(r.code, 0) << r.out;
  auto j = nlohmann::json::parse(r.out);
  for (const auto& c : j["top"]) {
    EXPECT_EQ(c["layout"]["tp"], 8);
    EXPECT_EQ(c["layout"]["pp"], 8);
    EXPECT_EQ(c["layout"]["zero"], 1);
  }
}

TEST(CliPlan, FixTp3OnA1024GpuClusterExits2SayingItDoesNotDivideTheGpus) {
  // 3 divides gpt3's 96 heads but not 1024 GPUs.
  auto r = parplan("plan --model gpt3-175b --gpus 1024 --fix tp=3");
  EXPECT_EQ(r.code, 2) << r.out;
  EXPECT_TRUE(has(r.out, "does not divide the 1024 GPUs")) << r.out;
  EXPECT_TRUE(has(r.out, "--allow-idle")) << r.out;
}

TEST(CliPlan, FixTp5Exits2NamingTheHeads) {
  auto r = parplan("plan --model gpt3-175b --gpus 1024 --fix tp=5");
  EXPECT_EQ(r.code, 2) << r.out;
  EXPECT_TRUE(has(r.out, "heads (96)")) << r.out;
}

TEST(CliPlan, UnknownFixKeyExits2) {
  auto r = parplan("plan --model gpt3-175b --gpus 64 --fix tpp=8");
  EXPECT_EQ(r.code, 2) << r.out;
  EXPECT_TRUE(has(r.out, "unknown key 'tpp'")) << r.out;
}

TEST(CliPlan, TooManyGpusExits2) {
  auto r = parplan("plan --model gpt3-175b --gpus 100000");
  EXPECT_EQ(r.code, 2) << r.out;
  EXPECT_TRUE(has(r.out, "exceeds")) << r.out;
}

TEST(CliPlan, NothingFitsExits2WithAdvice) {
  auto r = parplan("plan --model gpt3-175b --gpus 1 --fix offload=none");
  EXPECT_EQ(r.code, 2) << r.out;
  EXPECT_TRUE(has(r.out, "no layout of gpt3-175b fits")) << r.out;
  EXPECT_TRUE(has(r.out, "more GPUs")) << r.out;
  EXPECT_TRUE(has(r.out, "recompute")) << r.out;
}

TEST(CliPlan, BadModelInputExits2) {
  auto r = parplan("plan --model no-such-model");
  EXPECT_EQ(r.code, 2) << r.out;
}

TEST(CliPlan, OutWritesAPlanThatExportTurnsIntoMegatronArguments) {
  const std::string plan = temp_path("parplan_plan_test.json");
  auto r = parplan("plan --model gpt3-175b --gpus 1024 --fix tp=8,pp=8 --out '" + plan + "'", true);
  ASSERT_EQ(r.code, 0) << r.out;
  auto j = nlohmann::json::parse(std::ifstream(plan));
  EXPECT_EQ(j["layout"]["tp"], 8);
  EXPECT_TRUE(j.contains("prediction"));
  EXPECT_TRUE(j.contains("rules"));
  EXPECT_TRUE(j.contains("model"));

  auto m = parplan("export --plan '" + plan + "' --to megatron", true);
  ASSERT_EQ(m.code, 0) << m.out;
  EXPECT_TRUE(has(m.out, "--tensor-model-parallel-size 8")) << m.out;
  EXPECT_TRUE(has(m.out, "--pipeline-model-parallel-size 8"));
  EXPECT_TRUE(has(m.out, "--global-batch-size 1536"));

  auto t = parplan("export --plan '" + plan + "' --to torchrun --framework parplan", true);
  EXPECT_TRUE(has(t.out, "torchrun --nnodes 128 --nproc-per-node 8")) << t.out;
  EXPECT_TRUE(has(t.out, "parplan run")) << t.out;

  auto bad = parplan("export --plan '" + plan + "' --to horovod");
  EXPECT_EQ(bad.code, 2);
  EXPECT_TRUE(has(bad.out, "unknown format")) << bad.out;
  std::filesystem::remove(plan);
}

TEST(CliExport, DeepSpeedWritesItsConfigAndTheSidecarOrRefusesWithTheFix) {
  const std::string plan = temp_path("parplan_ds_plan.json");
  auto r = parplan("plan --model gpt3-175b --gpus 1024 --fix tp=8,pp=8,schedule=1f1b,zero=1,"
                   "recompute=full --out '" + plan + "'", true);
  ASSERT_EQ(r.code, 0) << r.out;
  const std::string ds = temp_path("parplan_ds_config.json");
  auto d = parplan("export --plan '" + plan + "' --to deepspeed --out '" + ds + "'");
  ASSERT_EQ(d.code, 0) << d.out;
  auto j = nlohmann::json::parse(std::ifstream(ds));
  EXPECT_EQ(j["train_batch_size"], 1536);
  EXPECT_FALSE(j.contains("parplan"));
  const std::string side = ds + ".parplan.json";  // the sidecar is named after --out
  EXPECT_EQ(nlohmann::json::parse(std::ifstream(side))["layout"]["pp"], 8);
  // ZeRO-3 with pipeline parallelism: DeepSpeed's pipeline engine refuses it, so does export.
  auto p3 = nlohmann::json::parse(std::ifstream(plan));
  p3["layout"]["zero"] = 3;
  auto bad = parplan("export --plan " + shell_quote(p3.dump()) + " --to deepspeed");
  EXPECT_EQ(bad.code, 2) << bad.out;
  EXPECT_TRUE(has(bad.out, "incompatible with pipeline parallelism")) << bad.out;
  EXPECT_TRUE(has(bad.out, "To fix: re-plan with --fix zero=1")) << bad.out;
  for (const auto& f : {plan, ds, side}) std::filesystem::remove(f);
}

TEST(CliExport, MissingPlanFileExits2) {
  auto r = parplan("export --plan /nonexistent/plan.json --to megatron");
  EXPECT_EQ(r.code, 2) << r.out;
}

TEST(CliExplain, JsonListsTheRulesThatFireForOneNode) {
  auto r = parplan("explain --model gpt2-124m --train gpt2-512 --gpus 8 --json", true);
  ASSERT_EQ(r.code, 0) << r.out;
  auto j = nlohmann::json::parse(r.out);
  ASSERT_EQ(j["rules"].size(), 12u);
  EXPECT_EQ(j["rules"][3]["id"], "R4");
  EXPECT_EQ(j["rules"][3]["fires"], true);
  EXPECT_EQ(j["rules"][0]["fires"], false);
}

TEST(CliExplain, TableShowsVerdictsWithNumbers) {
  auto r = parplan("explain --model gpt3-175b --gpus 1024 --fix tp=16", true);
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_TRUE(has(r.out, "R8 tp-within-node [disagrees]")) << r.out;
  EXPECT_TRUE(has(r.out, "tp=16 > 8")) << r.out;
}

}  // namespace
