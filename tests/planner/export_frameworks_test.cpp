// DeepSpeed, Megatron-DeepSpeed and torchtitan exports: every key and flag is one the framework
// takes (tests/data/upstream/ lists with their commits), the batch arithmetic each framework does
// gives the plan's batch, and what a framework cannot run is refused with the reason and a fix.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "fixtures.hpp"
#include "parplan/planner/export.hpp"
#include "export_checks.hpp"
#include "upstream_lists.hpp"

namespace parplan::planner {
namespace {

using test::has;
using test::refusal;
using test::expect_deepspeed_keys;
using test::flags_of;
using test::value_of;

using test::gpt3_plan;
Layout layout(int dp, int tp, int pp, int cp, int mb, int zero, Recompute r, bool sp = false) {
  return Layout{dp, tp, pp, cp, mb, zero, r, sp, Schedule::OneFOneB, 1, Offload::None};
}


TEST(ExportDeepSpeed, ConfigHasDeepSpeedKeysOnlyAndTheBatchArithmetic) {
  Plan p = gpt3_plan(layout(64, 4, 4, 1, 2, 1, Recompute::Full));
  const auto files = export_files(p, ExportFormat::DeepSpeed);
  ASSERT_EQ(files.size(), 2u);
  auto j = nlohmann::json::parse(files[0].text);
  expect_deepspeed_keys(j);
  EXPECT_FALSE(j.contains("parplan"));
  // DeepSpeed checks train_batch_size = micro x accumulation x data-parallel size: 2 x 12 x 64.
  EXPECT_EQ(j["train_batch_size"], 1536);
  EXPECT_EQ(j["train_micro_batch_size_per_gpu"], 2);
  EXPECT_EQ(j["gradient_accumulation_steps"], 12);
  EXPECT_EQ(j["zero_optimization"]["stage"], 1);
  EXPECT_EQ(j["zero_optimization"]["overlap_comm"], false);  // megatron-core's default, as priced
  EXPECT_EQ(j["activation_checkpointing"]["partition_activations"], true);  // tp 4
  // The plan's metadata goes to the sidecar, with what the training script must set up.
  auto side = nlohmann::json::parse(files[1].text);
  EXPECT_EQ(files[1].name, "ds_config.parplan.json");
  EXPECT_EQ(side["layout"]["tp"], 4);
  EXPECT_TRUE(has(side["script_must"].dump(), "PipelineModule with num_stages=4"));
}

TEST(ExportDeepSpeed, ZeroAndOffloadKeys) {
  Plan p = gpt3_plan(layout(1024, 1, 1, 1, 1, 3, Recompute::Full));
  p.layout.offload = Offload::OptimizerAndParams;
  auto j = nlohmann::json::parse(export_plan(p, ExportFormat::DeepSpeed));
  expect_deepspeed_keys(j);
  EXPECT_EQ(j["zero_optimization"]["stage"], 3);
  EXPECT_EQ(j["zero_optimization"]["offload_optimizer"]["device"], "cpu");
  EXPECT_EQ(j["zero_optimization"]["offload_param"]["device"], "cpu");
  // The optimizer DeepSpeed builds as DeepSpeedCPUAdam for offload (a client torch optimizer is
  // refused at engine start), named in the config and in the sidecar's notes.
  EXPECT_EQ(j["optimizer"]["type"], "AdamW");
  const auto files = export_files(p, ExportFormat::DeepSpeed);
  EXPECT_TRUE(has(files[1].text, "DeepSpeedCPUAdam")) << files[1].text;
  // Without offload the config still names the optimizer priced (ZeRO without one stops at engine
  // start: "zero stage 3 requires an optimizer"); the engine builds it as FusedAdam.
  p.layout.offload = Offload::None;
  const auto plain = export_files(p, ExportFormat::DeepSpeed);
  EXPECT_EQ(nlohmann::json::parse(plain[0].text)["optimizer"]["type"], "AdamW");
  EXPECT_TRUE(has(plain[1].text, "AdamW as FusedAdam")) << plain[1].text;
  EXPECT_FALSE(has(plain[1].text, "DeepSpeedCPUAdam"));
  p.training.optimizer = Optimizer::Sgd;
  EXPECT_EQ(nlohmann::json::parse(export_plan(p, ExportFormat::DeepSpeed))["optimizer"]["type"], "SGD");
  EXPECT_EQ(j["gradient_accumulation_steps"], 1);  // 1536 / (1024 x 1) rounds down as priced
}

TEST(ExportDeepSpeed, RefusesZero3WithItsPipelineEngine) {
  Plan p = gpt3_plan(layout(16, 8, 8, 1, 1, 3, Recompute::Full));
  const std::string e = refusal(p, ExportFormat::DeepSpeed);
  EXPECT_TRUE(has(e, "ZeRO-3 with pipeline parallelism")) << e;
  EXPECT_TRUE(has(e, "incompatible with pipeline parallelism"));
  EXPECT_TRUE(has(e, "--fix zero=1"));
  EXPECT_FALSE(refusal(p, ExportFormat::MegatronDeepSpeed).empty());
  p.layout.zero = 1;
  EXPECT_EQ(refusal(p, ExportFormat::DeepSpeed), "");
}

TEST(ExportDeepSpeed, RefusesSelectiveRecomputationInsteadOfPricingItAsFull) {
  Plan p = gpt3_plan(layout(128, 8, 1, 1, 1, 1, Recompute::Selective, true));
  const std::string e = refusal(p, ExportFormat::DeepSpeed);
  EXPECT_TRUE(has(e, "selective recomputation")) << e;
  EXPECT_TRUE(has(e, "megatron-deepspeed"));
  // Megatron-DeepSpeed expresses it with Megatron's own flag.
  const std::string m = export_plan(p, ExportFormat::MegatronDeepSpeed);
  EXPECT_TRUE(has(m, "--recompute-granularity selective")) << m;
  EXPECT_FALSE(has(m, "--partition-activations"));  // DeepSpeed's checkpointing is not used
}

TEST(ExportDeepSpeed, UlyssesKeepsTheDataParallelSizeOfThePlan) {
  // 64 GPUs = dp 16 x Ulysses 4. Without an mpu DeepSpeed divides the world by
  // sequence_parallel_size: 64 / 4 = 16 = dp, so 1536 = 1 x 96 x 16 holds.
  Plan p = gpt3_plan(layout(16, 1, 1, 4, 1, 3, Recompute::Full));
  p.layout.cp_kind = CpKind::Ulysses;
  auto j = nlohmann::json::parse(export_plan(p, ExportFormat::DeepSpeed));
  expect_deepspeed_keys(j);
  EXPECT_EQ(j["sequence_parallel_size"], 4);
  EXPECT_EQ(p.layout.gpus() / j["sequence_parallel_size"].get<int64_t>(), p.layout.dp);
  EXPECT_EQ(j["train_batch_size"].get<int64_t>(),
            j["train_micro_batch_size_per_gpu"].get<int64_t>() *
                j["gradient_accumulation_steps"].get<int64_t>() * p.layout.dp);
  p.layout.cp_kind = CpKind::Ring;
  EXPECT_TRUE(has(refusal(p, ExportFormat::DeepSpeed), "Ulysses"));
}

TEST(ExportMegatronDeepSpeed, FlagsAndConfigForUlysses) {
  static const auto list = test::upstream_list("megatron-deepspeed-flags.txt");
  ASSERT_NE(list.header.find("ffa3456d68b630192fcaefcc3288bd18525b8d95"), std::string::npos);
  Plan p = gpt3_plan(layout(32, 4, 1, 8, 1, 2, Recompute::Full));
  p.model = load_model("llama3-70b");
  p.training = load_training("llama3-8k");
  p.layout.cp_kind = CpKind::Ulysses;
  const auto files = export_files(p, ExportFormat::MegatronDeepSpeed);
  ASSERT_EQ(files.size(), 2u);
  const std::string& s = files[0].text;
  for (const auto& f : flags_of(s, "pretrain_gpt.py"))
    EXPECT_TRUE(list.items.count(f)) << f << " is not a Megatron-DeepSpeed flag";
  EXPECT_TRUE(has(s, "--ds-sequence-parallel-size 8")) << s;
  EXPECT_TRUE(has(s, "--zero-stage 2"));
  EXPECT_TRUE(has(s, "--no-pipeline-parallel"));  // pp 1: DeepSpeed's engine runs ZeRO-2
  EXPECT_TRUE(has(s, "--deepspeed_config ds_config.json"));
  EXPECT_TRUE(has(s, "--num-key-value-heads 8"));
  EXPECT_TRUE(has(s, "--use-rotary-position-embeddings"));
  EXPECT_TRUE(has(s, "--normalization rmsnorm"));
  EXPECT_TRUE(has(s, "--deepspeed-activation-checkpointing"));
  // tp 4: the config asks for partitioned activations, and the flag keeps Megatron-DeepSpeed's
  // deepspeed.checkpointing.configure call from overriding that with false.
  EXPECT_TRUE(has(s, "--partition-activations"));
  EXPECT_FALSE(has(s, "--sequence-parallel "));
  auto j = nlohmann::json::parse(files[1].text);
  expect_deepspeed_keys(j);
  EXPECT_EQ(j["activation_checkpointing"]["partition_activations"], true);
  EXPECT_EQ(j["zero_optimization"]["stage"], 2);
  // 2048 = 1 x 64 x 32: Megatron-DeepSpeed's mpu counts dp = 1024 / (tp 4 x sp 8) = 32.
  EXPECT_EQ(j["gradient_accumulation_steps"], 64);
  EXPECT_FALSE(j.contains("sequence_parallel_size"));  // the mpu says it
}

TEST(ExportMegatronDeepSpeed, PartitionsActivationsOnlyUnderTensorParallelism) {
  // Full recomputation through DeepSpeed's checkpointing: with tp 1 there is nothing to
  // partition over, and config and flags both say so.
  Plan p = gpt3_plan(layout(64, 1, 1, 1, 1, 1, Recompute::Full));
  const auto files = export_files(p, ExportFormat::MegatronDeepSpeed);
  ASSERT_EQ(files.size(), 2u);
  EXPECT_TRUE(has(files[0].text, "--deepspeed-activation-checkpointing")) << files[0].text;
  EXPECT_FALSE(has(files[0].text, "--partition-activations"));
  EXPECT_EQ(nlohmann::json::parse(files[1].text)["activation_checkpointing"]["partition_activations"], false);
  p.layout = layout(32, 2, 1, 1, 1, 1, Recompute::Full);
  EXPECT_TRUE(has(export_files(p, ExportFormat::MegatronDeepSpeed)[0].text, "--partition-activations"));
}

void expect_torchtitan_keys(const std::string& text) {
  static const auto list = test::upstream_list("torchtitan-cli-keys.txt");
  ASSERT_NE(list.header.find("b5bcd76c66d0acb1a08b176d9639425bc55e0b2a"), std::string::npos);
  test::expect_bash_syntax(text);
  for (auto f : flags_of(text, "torchtitan.train")) {
    f = f.substr(2);
    if (f == "module" || f == "config") continue;  // ConfigManager's selectors, not options
    const auto dot = f.rfind('.');
    if (dot != std::string::npos && f.compare(dot + 1, 3, "no-") == 0) f.erase(dot + 1, 3);
    EXPECT_TRUE(list.items.count(f)) << f << " is not a torchtitan option";
  }
}

TEST(ExportTorchtitan, OverridesCarryTheLayoutAndTheTokenArithmetic) {
  Plan p = gpt3_plan(layout(16, 8, 1, 1, 1, 3, Recompute::Selective, true));
  p.model = load_model("llama3-70b");
  p.training = load_training("llama3-8k");
  const auto files = export_files(p, ExportFormat::Torchtitan);
  ASSERT_EQ(files.size(), 2u);
  const std::string& s = files[0].text;
  expect_torchtitan_keys(s);
  EXPECT_TRUE(has(s, "-m torchtitan.train")) << s;
  EXPECT_TRUE(has(s, "--parallelism.data_parallel_shard_degree 16"));
  EXPECT_TRUE(has(s, "--parallelism.data_parallel_replicate_degree 1"));
  EXPECT_TRUE(has(s, "--parallelism.fsdp_reshard_after_forward always"));  // ZeRO-3
  EXPECT_TRUE(has(s, "--parallelism.tensor_parallel_degree 8"));
  EXPECT_TRUE(has(s, "--parallelism.enable_sequence_parallel"));
  // A step is 2048 sequences x 8192 tokens; one micro-batch per DP rank is 1 x 8192.
  EXPECT_EQ(value_of(s, "--training.num_tokens_per_train_step"), "16777216");
  EXPECT_EQ(value_of(s, "--training.num_tokens_per_microbatch_per_dp_rank"), "8192");
  // torchtitan accumulates step / (microbatch tokens x dp) = 16777216 / (8192 x 16) = 128 times,
  // the plan's 2048 / (16 x 1).
  EXPECT_EQ(16777216 / (8192 * 16), 2048 / (p.layout.dp * p.layout.micro_batch));
  EXPECT_EQ(value_of(s, "--training.max_context_length"), "8192");
  // What the frozen command line does not take goes to the config function it names.
  const std::string& r = files[1].text;
  EXPECT_EQ(files[1].name, "parplan_recipe.py");
  EXPECT_TRUE(has(s, "--module parplan_recipe --config parplan_plan") ||
              (has(s, "--module parplan_recipe") && has(s, "--config parplan_plan")));
  EXPECT_TRUE(has(r, "torchtitan.models.llama3.config_registry")) << r;
  EXPECT_TRUE(has(r, "BASE_CONFIG = \"llama3_70b\""));
  EXPECT_TRUE(has(r, "SelectiveAC.Config()"));
}

TEST(ExportTorchtitan, PipelineSplitAndFloat8) {
  // 80 layers on pp 4, v 2 (Interleaved1F1B): 8 stages of 10, so first/last give up none.
  Plan p = gpt3_plan(layout(8, 8, 4, 1, 1, 2, Recompute::Full, true));
  p.model = load_model("llama3-70b");
  p.training = load_training("llama3-8k");
  p.training.dtype = DType::FP8;
  p.training.fp8_recipe = Fp8Recipe::Current;  // torchtitan scales dynamically (no delayed)
  p.layout.schedule = Schedule::Interleaved;
  p.layout.virtual_stages = 2;
  const auto files = export_files(p, ExportFormat::Torchtitan);
  const std::string& s = files[0].text;
  expect_torchtitan_keys(s);
  EXPECT_TRUE(has(s, "--parallelism.pipeline_parallel_schedule Interleaved1F1B")) << s;
  EXPECT_TRUE(has(s, "--parallelism.pipeline_parallel_layers_per_stage 10"));
  EXPECT_TRUE(has(s, "--parallelism.pipeline_parallel_first_stage_less_layers 0"));
  EXPECT_TRUE(has(s, "--parallelism.fsdp_reshard_after_forward never"));  // ZeRO-2
  // 2048 / (8 dp x 1 mb) = 256 pipeline micro-batches per step.
  EXPECT_TRUE(has(s, "--parallelism.num_pp_microbatches 256"));
  EXPECT_TRUE(has(files[1].text, "Float8LinearConverter.Config(recipe_name=\"rowwise\""));
  EXPECT_TRUE(has(files[1].text, "FullAC.Config()"));
  // 126 layers on pp 16: stages of 8, the first and the last giving up one (7 + 14 x 8 + 7).
  p.model = load_model("llama3-405b");
  p.layout = layout(8, 8, 16, 1, 1, 3, Recompute::Full, true);
  const std::string u = export_plan(p, ExportFormat::Torchtitan);
  EXPECT_TRUE(has(u, "--parallelism.pipeline_parallel_layers_per_stage 8")) << u;
  EXPECT_TRUE(has(u, "--parallelism.pipeline_parallel_first_stage_less_layers 1"));
  EXPECT_TRUE(has(u, "--parallelism.pipeline_parallel_last_stage_less_layers 1"));
}

// A model torchtitan has no registry for would not be built as priced: refused (exit 2) rather
// than exported with a recipe the user must complete.
TEST(ExportTorchtitan, RefusesZero1AndModelsItDoesNotHave) {
  Plan p = gpt3_plan(layout(16, 8, 8, 1, 1, 1, Recompute::Selective, true));
  const std::string e = refusal(p, ExportFormat::Torchtitan);
  EXPECT_TRUE(has(e, "ZeRO-1")) << e;
  EXPECT_TRUE(has(e, "--fix zero=2"));
  p.layout.zero = 3;
  for (ExportFormat f : {ExportFormat::Torchtitan, ExportFormat::TorchtitanToml}) {
    const std::string u = refusal(p, f);  // gpt3-175b: not in its registry
    EXPECT_TRUE(has(u, "torchtitan has no registered model matching gpt3-175b")) << u;
    EXPECT_TRUE(has(u, "To fix: export to megatron"));
  }
  p.model = load_model("llama3-405b");
  EXPECT_TRUE(has(export_files(p, ExportFormat::Torchtitan)[1].text, "llama3_405b"));
}

// Megatron-Core's per-module recomputation: torchtitan's selective AC is per op or per layer,
// Megatron-DeepSpeed's is the attention core only; both refuse it and say where it runs.
TEST(ExportTorchtitan, RefusesMegatronCoresRecomputeModules) {
  Plan p = gpt3_plan(layout(16, 1, 8, 1, 1, 3, Recompute::Selective));
  p.model = load_model("llama3-405b");
  p.layout.recompute_modules = kRecomputeMlp;
  for (ExportFormat f : {ExportFormat::Torchtitan, ExportFormat::TorchtitanToml}) {
    const std::string e = refusal(p, f);
    EXPECT_TRUE(has(e, "layout.recompute_modules [mlp]")) << e;
    EXPECT_TRUE(has(e, "export to megatron (--recompute-modules)")) << e;
  }
  Plan ds = gpt3_plan(layout(16, 8, 8, 1, 1, 1, Recompute::Selective, true));
  ds.layout.recompute_modules = kRecomputeMlp | kRecomputeCoreAttn;
  const std::string e = refusal(ds, ExportFormat::MegatronDeepSpeed);
  EXPECT_TRUE(has(e, "layout.recompute_modules [core_attn,mlp]")) << e;
  EXPECT_TRUE(has(e, "no --recompute-modules")) << e;
}

// What torchtitan builds is what was priced: the 405B base config's Float8, compile and async TP
// are pinned off, CUDA graphs off (priced eager; the trainer refuses them with PP), the dataset
// from the environment (these configs have no --dataloader.dataset_path), and a Hugging Face
// config, which names only its model_type, finds its registry flavor by shape.
TEST(ExportTorchtitan, PinsWhatWasPricedInsteadOfInheritingTheBaseConfig) {
  Plan p = gpt3_plan(layout(16, 8, 8, 1, 1, 3, Recompute::Full, true));
  p.model = load_model("llama3-405b");
  p.training = load_training("llama3-8k");
  const auto files = export_files(p, ExportFormat::Torchtitan);
  const std::string& s = files[0].text;
  expect_torchtitan_keys(s);
  EXPECT_TRUE(has(s, "--training.disable_cuda_graphs")) << s;
  EXPECT_TRUE(has(s, "--compile.no-enable "));
  EXPECT_TRUE(has(s, "--compile.no-enable_async_tensor_parallel"));
  EXPECT_FALSE(has(s, "dataset_path"));
  EXPECT_TRUE(has(s, "export DATASET_PATH=\"${DATASET_PATH:?"));
  const std::string& r = files[1].text;
  EXPECT_TRUE(has(r, "BASE_CONFIG = \"llama3_405b\"")) << r;
  EXPECT_TRUE(has(r, "config.model_spec = registry(FLAVOR, converters=[])"));
  EXPECT_TRUE(has(r, "node.source.path = os.environ[\"DATASET_PATH\"]"));
  p.model = load_model(std::string(PARPLAN_SOURCE_DIR) + "/tests/data/hf/qwen3-8b.json");
  p.layout = layout(32, 2, 1, 1, 1, 3, Recompute::Full, true);
  const std::string q = export_files(p, ExportFormat::Torchtitan)[1].text;
  EXPECT_TRUE(has(q, "BASE_CONFIG = \"qwen3_14b\"")) << q;
  EXPECT_TRUE(has(q, "FLAVOR = \"8B\""));
}

TEST(ExportTorchtitan, TomlForReleasesBeforeTheConfigRefactor) {
  Plan p = gpt3_plan(layout(8, 8, 4, 1, 2, 3, Recompute::Selective, true));
  p.model = load_model("llama3-70b");
  p.training = load_training("llama3-8k");
  const std::string t = export_plan(p, ExportFormat::TorchtitanToml);
  EXPECT_GT(test::expect_torchtitan_toml_keys(t), 12);
  EXPECT_TRUE(has(t, "name = \"llama3\"")) << t;
  EXPECT_TRUE(has(t, "flavor = \"70B\""));
  // With PP a rank's batch is all its micro-batches: 2048 / 8 dp = 256 sequences, split into
  // micro-batches of 2 (128 per step).
  EXPECT_TRUE(has(t, "local_batch_size = 256"));
  EXPECT_TRUE(has(t, "pipeline_parallel_microbatch_size = 2"));
  EXPECT_TRUE(has(t, "global_batch_size = 2048"));
  EXPECT_TRUE(has(t, "mode = \"selective\""));
  EXPECT_TRUE(has(t, "data_parallel_shard_degree = 8"));
}

}  // namespace
}  // namespace parplan::planner
