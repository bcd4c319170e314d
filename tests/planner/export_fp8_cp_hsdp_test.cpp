// FP8 (format and recipe), the CP kind (ring / Ulysses / USP), HSDP shard groups and tiles in the
// exports: each framework gets the flags or keys that run the plan as priced (checked against the
// tests/data/upstream/ lists with their commits), or a refusal naming the field and the fix.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "fixtures.hpp"
#include "parplan/cost/context_parallel.hpp"
#include "parplan/planner/export.hpp"
#include "export_checks.hpp"
#include "upstream_lists.hpp"

namespace parplan::planner {
namespace {

using test::has;
using test::refusal;
using test::expect_megatron_flags;
using test::expect_megatron_ds_flags;
using test::expect_deepspeed_keys;
using test::flags_of;
using test::value_of;


Plan plan(const char* model, const char* training, Layout l) {
  return parplan::test::preset_plan(model, "dgx-h100-80g", training, l);
}
Layout layout(int dp, int tp, int pp, int cp, int zero, Recompute r = Recompute::Full) {
  return Layout{dp, tp, pp, cp, 1, zero, r, false, Schedule::OneFOneB, 1, Offload::None};
}

using test::expect_torchtitan_toml_keys;

// --- Megatron-LM ---

TEST(ExportCpKind, MegatronRingUlyssesAndUsp) {
  // Llama 3 70B, 128K tokens: 64 heads, 8 KV heads; tp 8 leaves 8 heads per rank.
  Plan p = plan("llama3-70b", "llama3-8k", layout(2, 8, 1, 8, 1));
  p.training.seq_len = 131072;
  p.layout.sequence_parallel = true;
  std::string s = export_plan(p, ExportFormat::Megatron);
  expect_megatron_flags(s);
  EXPECT_EQ(value_of(s, "--context-parallel-size"), "8") << s;
  EXPECT_FALSE(has(s, "--cp-comm-type"));  // ring: Megatron's default p2p
  p.layout.cp_kind = CpKind::Ulysses;
  s = export_plan(p, ExportFormat::Megatron);
  expect_megatron_flags(s);
  EXPECT_EQ(value_of(s, "--cp-comm-type"), "a2a") << s;
  // USP: Ulysses over 2 inside, ring over 8 / 2 = 4.
  p.layout.cp_kind = CpKind::Usp;
  p.layout.ulysses = 2;
  s = export_plan(p, ExportFormat::Megatron);
  expect_megatron_flags(s);
  EXPECT_EQ(value_of(s, "--cp-comm-type"), "a2a+p2p");
  EXPECT_TRUE(has(s, "--hierarchical-context-parallel-sizes 2 4")) << s;
  // A derived share (0, as the search leaves it): the one the cost model priced, Ulysses over the
  // largest divisor of cp with tp x u inside a node (8 GPUs) that splits 8 heads per rank: 8 / 8 = 1.
  p.layout.ulysses = 0;
  ASSERT_EQ(cost::ulysses_degree(p.model, p.cluster, p.layout), 1);
  EXPECT_TRUE(has(export_plan(p, ExportFormat::Megatron), "--hierarchical-context-parallel-sizes 1 8"));
  p.layout.tp = 2;  // 32 heads per rank; tp 2 x u 4 = 8 GPUs: u = 4, ring over 2
  p.layout.dp = 8;
  ASSERT_EQ(cost::ulysses_degree(p.model, p.cluster, p.layout), 4);
  s = export_plan(p, ExportFormat::Megatron);
  expect_megatron_flags(s);
  EXPECT_TRUE(has(s, "--hierarchical-context-parallel-sizes 4 2")) << s;
}

TEST(ExportHsdp, MegatronFsdpShardsInsideGroupsAndReplicatesAcross) {
  // dp 32 in groups of 8: 32 / 8 = 4 replicas (distributed-optimizer instances).
  Plan p = plan("llama3-70b", "llama3-8k", layout(32, 4, 1, 1, 3));
  p.layout.shard_group = 8;
  const std::string s = export_plan(p, ExportFormat::Megatron);
  expect_megatron_flags(s);
  EXPECT_TRUE(has(s, "--use-megatron-fsdp")) << s;
  EXPECT_EQ(value_of(s, "--data-parallel-sharding-strategy"), "optim_grads_params");
  EXPECT_EQ(value_of(s, "--num-distributed-optimizer-instances"), "4");
  EXPECT_EQ(value_of(s, "--outer-dp-sharding-strategy"), "no_shard");
  p.layout.shard_group = 0;
  const std::string full = export_plan(p, ExportFormat::Megatron);
  EXPECT_FALSE(has(full, "--num-distributed-optimizer-instances"));
  EXPECT_FALSE(has(full, "--outer-dp-sharding-strategy"));
}

TEST(ExportFp8, MegatronFormatRecipeAndParamGather) {
  Plan p = plan("llama3-70b", "llama3-8k", layout(16, 8, 1, 1, 1));
  p.layout.sequence_parallel = true;
  p.training.dtype = DType::FP8;
  const std::pair<Fp8Recipe, const char*> recipes[] = {{Fp8Recipe::Delayed, "delayed"},
                                                       {Fp8Recipe::Current, "tensorwise"},
                                                       {Fp8Recipe::Blockwise, "blockwise"},
                                                       {Fp8Recipe::Mxfp8, "mxfp8"}};
  for (const auto& [r, name] : recipes) {
    p.training.fp8_recipe = r;
    const std::string s = export_plan(p, ExportFormat::Megatron);
    expect_megatron_flags(s);
    EXPECT_EQ(value_of(s, "--fp8-recipe"), name) << s;
    EXPECT_EQ(value_of(s, "--fp8-format"), "hybrid");
    EXPECT_TRUE(has(s, "--bf16"));  // what is not FP8 runs in BF16
    EXPECT_FALSE(has(s, "--fp8-param-gather"));
  }
  p.training.fp8_format = "e4m3";
  p.training.fp8_param_gather = Switch::On;
  const std::string s = export_plan(p, ExportFormat::Megatron);
  expect_megatron_flags(s);
  EXPECT_EQ(value_of(s, "--fp8-format"), "e4m3");
  EXPECT_TRUE(has(s, "--fp8-param-gather")) << s;
  p.training.dtype = DType::BF16;
  EXPECT_FALSE(has(export_plan(p, ExportFormat::Megatron), "--fp8"));
}

// --- Megatron-DeepSpeed and DeepSpeed ---

TEST(ExportFp8, MegatronDeepSpeedRunsDelayedScalingOnTransformerEnginesLayer) {
  // GPT-3 175B: multi-head attention, LayerNorm, GeLU, learned positions: TE's layer builds it.
  Plan p = plan("gpt3-175b", "gpt3-1536", layout(16, 8, 8, 1, 1));
  p.layout.sequence_parallel = true;
  p.training.dtype = DType::FP8;
  const auto files = export_files(p, ExportFormat::MegatronDeepSpeed);
  ASSERT_EQ(files.size(), 2u);
  const std::string& s = files[0].text;
  expect_megatron_ds_flags(s);
  EXPECT_EQ(value_of(s, "--transformer-impl"), "transformer_engine") << s;
  EXPECT_TRUE(has(s, "--fp8-hybrid"));
  EXPECT_TRUE(has(s, "--bf16"));
  EXPECT_FALSE(has(s, "--use-flash-attn-v2"));  // the local layer's flag; TE has its own attention
  auto j = nlohmann::json::parse(files[1].text);
  expect_deepspeed_keys(j);
  EXPECT_EQ(j["bf16"]["enabled"], true);
  p.training.fp8_format = "e4m3";
  EXPECT_TRUE(has(export_plan(p, ExportFormat::MegatronDeepSpeed), "--fp8-e4m3"));
  // Only DelayedScaling: another recipe is refused naming the field.
  p.training.fp8_recipe = Fp8Recipe::Current;
  std::string e = refusal(p, ExportFormat::MegatronDeepSpeed);
  EXPECT_TRUE(has(e, "FP8 recipe current")) << e;
  EXPECT_TRUE(has(e, "train.fp8_recipe delayed"));
  // Llama 3 (GQA, RMSNorm, SwiGLU, rotary): TE's layer there builds none of them.
  p = plan("llama3-70b", "llama3-8k", layout(16, 8, 1, 1, 1));
  p.training.dtype = DType::FP8;
  e = refusal(p, ExportFormat::MegatronDeepSpeed);
  EXPECT_TRUE(has(e, "GQA")) << e;
  EXPECT_TRUE(has(e, "export to megatron"));
  // DeepSpeed's own config has no FP8 key.
  p.layout.tp = 1;
  p.layout.dp = 128;
  p.layout.zero = 3;
  EXPECT_TRUE(has(refusal(p, ExportFormat::DeepSpeed), "FP8"));
}

TEST(ExportHsdp, DeepSpeedAsMicsAndMegatronDeepSpeedRefuses) {
  // 64 GPUs of ZeRO-3 in groups of 8 (a node): mics_shard_size 8, 8 replicas.
  Plan p = plan("llama3-8b", "llama3-8k", layout(64, 1, 1, 1, 3));
  p.layout.shard_group = 8;
  const auto files = export_files(p, ExportFormat::DeepSpeed);
  auto j = nlohmann::json::parse(files[0].text);
  expect_deepspeed_keys(j);
  EXPECT_EQ(j["zero_optimization"]["mics_shard_size"], 8);
  EXPECT_FALSE(j["zero_optimization"].contains("zero_hpz_partition_size"));  // hpZ is not HSDP
  auto side = nlohmann::json::parse(files[1].text);
  bool mics_init = false;
  for (const auto& m : side["script_must"])
    mics_init = mics_init || has(m.get<std::string>(), "deepspeed.zero.MiCS_Init");
  EXPECT_TRUE(mics_init) << side["script_must"].dump();
  // Megatron-DeepSpeed's pretrain_gpt.py builds under zero.Init: refused, naming the field.
  const std::string e = refusal(p, ExportFormat::MegatronDeepSpeed);
  EXPECT_TRUE(has(e, "layout.shard_group 8 of dp 64")) << e;
  EXPECT_TRUE(has(e, "MiCS_Init"));
  p.layout.shard_group = 0;
  auto whole = nlohmann::json::parse(export_plan(p, ExportFormat::DeepSpeed));
  EXPECT_FALSE(whole["zero_optimization"].contains("mics_shard_size"));
}

TEST(ExportTiles, DeepSpeedTiledLinearOthersRefuse) {
  Plan p = plan("llama3-8b", "llama3-8k", layout(64, 1, 1, 1, 3));
  p.layout.tiles = 4;
  // Priced as 4 slices of each linear along the TP dimension: TiledLinear's splits say that.
  const auto files = export_files(p, ExportFormat::DeepSpeed);
  EXPECT_TRUE(has(files[1].text, "TiledLinear with 4 tiles: out_splits=4 for QKV and FC1, "
                                 "in_splits=4 for the attention projection and FC2"))
      << files[1].text;
  // Megatron-DeepSpeed's --tile-factor makes square tiles (3f^2 for QKV, 4f^2 for FC1): refused.
  const std::string md = refusal(p, ExportFormat::MegatronDeepSpeed);
  EXPECT_TRUE(has(md, "layout.tiles 4")) << md;
  EXPECT_TRUE(has(md, "--tile-factor"));
  for (ExportFormat f : {ExportFormat::Megatron, ExportFormat::Torchtitan})
    EXPECT_TRUE(has(refusal(p, f), "layout.tiles")) << refusal(p, f);
  p.layout.tiles = 1;
  EXPECT_FALSE(has(export_plan(p, ExportFormat::MegatronDeepSpeed), "--tile-factor"));
}

// --- torchtitan ---

TEST(ExportHsdp, TorchtitanReplicateAndShardDegrees) {
  Plan p = plan("llama3-8b", "llama3-8k", layout(64, 1, 1, 1, 3));
  p.layout.shard_group = 8;
  const std::string s = export_plan(p, ExportFormat::Torchtitan);
  EXPECT_EQ(value_of(s, "--parallelism.data_parallel_shard_degree"), "8") << s;
  EXPECT_EQ(value_of(s, "--parallelism.data_parallel_replicate_degree"), "8");
  const std::string t = export_plan(p, ExportFormat::TorchtitanToml);
  expect_torchtitan_toml_keys(t);
  EXPECT_TRUE(has(t, "data_parallel_shard_degree = 8")) << t;
  EXPECT_TRUE(has(t, "data_parallel_replicate_degree = 8"));
}

TEST(ExportFp8, TorchtitanConvertersByRecipe) {
  Plan p = plan("llama3-8b", "llama3-8k", layout(64, 1, 1, 1, 3));
  p.training.dtype = DType::FP8;
  // torchao scales from the current tensor: delayed and 1x128 blockwise are refused.
  std::string e = refusal(p, ExportFormat::Torchtitan);
  EXPECT_TRUE(has(e, "delayed scaling")) << e;
  EXPECT_TRUE(has(e, "train.fp8_recipe current"));
  p.training.fp8_recipe = Fp8Recipe::Blockwise;
  EXPECT_TRUE(has(refusal(p, ExportFormat::TorchtitanToml), "blockwise"));
  // Current scaling: rowwise Float8 at b5bcd76 (the output layer, lm_head, stays BF16) and
  // tensorwise in the TOML releases (output).
  p.training.fp8_recipe = Fp8Recipe::Current;
  auto files = export_files(p, ExportFormat::Torchtitan);
  ASSERT_EQ(files.size(), 2u);
  EXPECT_TRUE(has(files[1].text,
                  "Float8LinearConverter.Config(recipe_name=\"rowwise\", filter_fqns=[\"lm_head\"])"))
      << files[1].text;
  std::string t = export_plan(p, ExportFormat::TorchtitanToml);
  expect_torchtitan_toml_keys(t);
  EXPECT_TRUE(has(t, "converters = [\"quantize.linear.float8\"]")) << t;
  EXPECT_TRUE(has(t, "recipe_name = \"tensorwise\""));
  EXPECT_TRUE(has(t, "filter_fqns = [\"output\"]"));
  EXPECT_FALSE(has(t, "enable_fsdp_float8_all_gather"));
  // FP8 all-gather: the TOML releases' tensorwise FSDP option; refused on the command line.
  p.training.fp8_param_gather = Switch::On;
  t = export_plan(p, ExportFormat::TorchtitanToml);
  expect_torchtitan_toml_keys(t);
  EXPECT_TRUE(has(t, "enable_fsdp_float8_all_gather = true")) << t;
  EXPECT_TRUE(has(t, "precompute_float8_dynamic_scale_for_fsdp = true"));
  e = refusal(p, ExportFormat::Torchtitan);
  EXPECT_TRUE(has(e, "train.fp8_param_gather off")) << e;
  // MXFP8: the MX converters.
  p.training.fp8_param_gather = Switch::Default;
  p.training.fp8_recipe = Fp8Recipe::Mxfp8;
  files = export_files(p, ExportFormat::Torchtitan);
  EXPECT_TRUE(has(files[1].text, "MXFP8LinearConverter.Config(fqns=[\"layers.\"])")) << files[1].text;
  t = export_plan(p, ExportFormat::TorchtitanToml);
  expect_torchtitan_toml_keys(t);
  EXPECT_TRUE(has(t, "converters = [\"quantize.linear.mx\"]")) << t;
  EXPECT_TRUE(has(t, "[quantize.linear.mx]"));
}

TEST(ExportCpKind, TorchtitanRingRotatesKvAndRefusesUlysses) {
  Plan p = plan("llama3-8b", "llama3-8k", layout(16, 2, 1, 2, 3));
  p.layout.sequence_parallel = true;
  const std::string s = export_plan(p, ExportFormat::Torchtitan);
  EXPECT_EQ(value_of(s, "--parallelism.context_parallel_degree"), "2") << s;
  const std::string t = export_plan(p, ExportFormat::TorchtitanToml);
  expect_torchtitan_toml_keys(t);
  EXPECT_TRUE(has(t, "context_parallel_rotate_method = \"alltoall\"")) << t;
  p.layout.cp_kind = CpKind::Ulysses;
  const std::string e = refusal(p, ExportFormat::Torchtitan);
  EXPECT_TRUE(has(e, "ulysses")) << e;
  EXPECT_TRUE(has(e, "cp_kind ring"));
}

}  // namespace
}  // namespace parplan::planner
