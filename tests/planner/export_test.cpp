// Megatron-LM export and the launch lines: every flag is one Megatron-LM takes (the list of
// tests/data/upstream/ with its commit), the layout and the model are the priced ones, and the
// batch arithmetic holds. DeepSpeed and torchtitan: export_frameworks_test.cpp.
#include "parplan/planner/export.hpp"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "fixtures.hpp"
#include "export_checks.hpp"
#include "upstream_lists.hpp"

namespace parplan::planner {
namespace {

using test::has;
using test::expect_megatron_flags;
using test::flags_of;
using test::value_of;

// Narayanan et al. 2021's GPT-3 run: dp=16 tp=8 pp=8, interleaved with 2 chunks per stage.
Plan gpt3_plan() {
  return test::gpt3_plan(
      Layout{16, 8, 8, 1, 1, 1, Recompute::Selective, true, Schedule::Interleaved, 2, Offload::None});
}

// Mixtral 8x7B (its Hugging Face config.json: 32 layers, 8 experts, top-2, rope_theta 1e6).
Model mixtral() {
  Diagnostics d;
  Model m = model_from_json(nlohmann::json::parse(R"({"name": "mixtral-8x7b", "layers": 32,
      "hidden": 4096, "heads": 32, "kv_heads": 8, "ffn_hidden": 14336, "vocab": 32000,
      "max_seq_len": 32768, "gated_mlp": true, "rotary_base": 1000000,
      "moe": {"experts": 8, "experts_per_token": 2, "expert_ffn_hidden": 14336}})"), d);
  EXPECT_TRUE(d.ok());
  return m;
}



// Batch arithmetic as Megatron computes it: global = micro x dp x accumulation steps, dp =
// GPUs / (tp pp cp).
void expect_megatron_batch(const Plan& p, const std::string& s) {
  const int64_t mb = std::stoll(value_of(s, "--micro-batch-size"));
  const int64_t gb = std::stoll(value_of(s, "--global-batch-size"));
  const int64_t tp = std::stoll(value_of(s, "--tensor-model-parallel-size"));
  const int64_t pp = std::stoll(value_of(s, "--pipeline-model-parallel-size"));
  const std::string cps = value_of(s, "--context-parallel-size");
  const int64_t cp = cps.empty() ? 1 : std::stoll(cps);
  const int64_t dp = p.layout.gpus() / (tp * pp * cp);
  EXPECT_EQ(dp, p.layout.dp);
  EXPECT_EQ(gb, p.training.global_batch);
  EXPECT_EQ(gb % (mb * dp), 0);
}

TEST(ExportMegatron, GptArgumentsCarryTheLayoutAndTheModel) {
  const Plan p = gpt3_plan();
  std::string s = export_plan(p, ExportFormat::Megatron);
  expect_megatron_flags(s);
  expect_megatron_batch(p, s);
  EXPECT_TRUE(has(s, "pretrain_gpt.py")) << s;
  EXPECT_TRUE(has(s, "--tensor-model-parallel-size 8"));
  EXPECT_TRUE(has(s, "--pipeline-model-parallel-size 8"));
  EXPECT_TRUE(has(s, "--num-virtual-stages-per-pipeline-rank 2"));  // 96 = 8 x 2 x 6
  EXPECT_TRUE(has(s, "--sequence-parallel"));
  EXPECT_TRUE(has(s, "--recompute-granularity selective"));
  EXPECT_TRUE(has(s, "--num-layers 96"));
  EXPECT_TRUE(has(s, "--hidden-size 12288"));
  EXPECT_TRUE(has(s, "--ffn-hidden-size 49152"));
  EXPECT_TRUE(has(s, "--position-embedding-type learned_absolute"));  // GPT-3
  EXPECT_TRUE(has(s, "--normalization LayerNorm"));
  EXPECT_TRUE(has(s, "--use-distributed-optimizer"));
  // What the prediction assumed: megatron-core's defaults (examples/frameworks/megatron-core.json:
  // every overlap flag off, as Megatron's store_true flags are), and the env Megatron's TP needs.
  EXPECT_FALSE(has(s, "--overlap-grad-reduce"));
  EXPECT_FALSE(has(s, "--overlap-param-gather"));
  EXPECT_FALSE(has(s, "--tp-comm-overlap"));
  EXPECT_TRUE(has(s, "overlap_grad_reduce=off"));
  EXPECT_TRUE(has(s, "export CUDA_DEVICE_MAX_CONNECTIONS=1"));
  // Placeholders stop the script by name instead of running with a guessed path.
  EXPECT_TRUE(has(s, "--data-path \"${DATA_PATH:?set DATA_PATH"));
  EXPECT_TRUE(has(s, "--tokenizer-model \"${TOKENIZER:?"));
  EXPECT_FALSE(has(s, "--context-parallel-size"));
  EXPECT_FALSE(has(s, "--group-query-attention"));
}

TEST(ExportMegatron, LlamaBuildsTheSameModel) {
  Plan p = gpt3_plan();
  p.model = load_model("llama3-405b");
  p.model.rotary_base = 500000;  // Llama 3.1's rope_theta and rope_scaling (config.json)
  p.model.rope_scaling = "llama3";
  p.model.rope_scaling_factor = 8;
  p.layout = Layout{8, 8, 2, 4, 1, 0, Recompute::Full, false, Schedule::OneFOneB, 1, Offload::None};
  std::string s = export_plan(p, ExportFormat::Megatron);
  expect_megatron_flags(s);
  EXPECT_TRUE(has(s, "--position-embedding-type rope")) << s;
  EXPECT_TRUE(has(s, "--rotary-base 500000"));
  EXPECT_TRUE(has(s, "--use-rope-scaling"));
  EXPECT_TRUE(has(s, "--rope-scaling-factor 8"));
  EXPECT_TRUE(has(s, "--normalization RMSNorm"));
  EXPECT_TRUE(has(s, "--disable-bias-linear"));
  EXPECT_TRUE(has(s, "--swiglu"));
  EXPECT_TRUE(has(s, "--untie-embeddings-and-output-weights"));
  EXPECT_TRUE(has(s, "--context-parallel-size 4"));
  EXPECT_TRUE(has(s, "--group-query-attention"));
  EXPECT_TRUE(has(s, "--num-query-groups 8"));
  EXPECT_TRUE(has(s, "--recompute-granularity full"));
  EXPECT_TRUE(has(s, "--recompute-method uniform"));
  // The vocabulary pinned as priced (128256 = 2^8 x 501 splits over tp 8), not left to the
  // tokenizer's padding.
  EXPECT_TRUE(has(s, "--padded-vocab-size 128256"));
  EXPECT_FALSE(has(s, "--make-vocab-size-divisible-by"));
  EXPECT_FALSE(has(s, "--use-distributed-optimizer"));  // zero 0
  EXPECT_FALSE(has(s, "--num-virtual-stages-per-pipeline-rank"));
}

TEST(ExportMegatron, GemmaHeadDimensionIsKvChannels) {
  Plan p = gpt3_plan();
  p.model = load_model("llama3-8b");
  p.model.head_dim_explicit = 256;
  p.layout = Layout{8, 1, 1, 1, 1, 1, Recompute::None, false, Schedule::OneFOneB, 1, Offload::None};
  std::string s = export_plan(p, ExportFormat::Megatron);
  EXPECT_TRUE(has(s, "--kv-channels 256")) << s;
}

TEST(ExportMegatron, UnevenStagesUseFirstAndLastStageFlags) {
  // Llama 3 405B's 126 layers on pp 16: ceil(126 / 16) = 8 on the loaded stages (the priced
  // critical path); 16 x 8 - 126 = 2 come off the first and the last stage: 7 + 14 x 8 + 7.
  Plan p = gpt3_plan();
  p.model = load_model("llama3-405b");
  p.layout = Layout{8, 8, 16, 1, 1, 1, Recompute::Selective, true, Schedule::OneFOneB, 1, Offload::None};
  std::string s = export_plan(p, ExportFormat::Megatron);
  expect_megatron_flags(s);
  EXPECT_TRUE(has(s, "--decoder-first-pipeline-num-layers 7")) << s;
  EXPECT_TRUE(has(s, "--decoder-last-pipeline-num-layers 7"));
  // 61 layers (DeepSeek-V3) on pp 4: ceil = 16, 64 - 61 = 3 off the ends: 14 + 16 + 16 + 15.
  p.model.layers = 61;
  p.layout.pp = 4;
  p.layout.dp = 32;
  s = export_plan(p, ExportFormat::Megatron);
  EXPECT_TRUE(has(s, "--decoder-first-pipeline-num-layers 14")) << s;
  EXPECT_TRUE(has(s, "--decoder-last-pipeline-num-layers 15"));
}

TEST(ExportMegatron, UnevenVirtualStagesKeepTheScheduleAsAnExplicitLayout) {
  // 126 layers on pp 16 with v 2: 32 chunks of ceil(126 / 32) = 4; stage totals 7 (first),
  // 14 x 8, 7 (last) cannot split into 2 equal chunks, so each chunk is written out.
  Plan p = gpt3_plan();
  p.model = load_model("llama3-405b");
  p.layout = Layout{8, 8, 16, 1, 1, 1, Recompute::Selective, true, Schedule::Interleaved, 2, Offload::None};
  std::string s = export_plan(p, ExportFormat::Megatron);
  expect_megatron_flags(s);
  const std::string layout = value_of(s, "--pipeline-model-parallel-layout");
  ASSERT_FALSE(layout.empty()) << s;
  EXPECT_FALSE(has(s, "--num-virtual-stages-per-pipeline-rank"));  // Megatron: one or the other
  int chunks = 1, layers = 0, most = 0;
  for (size_t i = 0; i < layout.size(); ++i) {
    if (layout[i] == '|') ++chunks;
  }
  // Count layers: "t*4" is 4, a lone "t" is 1.
  for (size_t i = 0; i < layout.size(); ++i)
    if (layout[i] == 't') {
      int n = 1;
      if (i + 2 < layout.size() && layout[i + 1] == '*') n = std::stoi(layout.substr(i + 2));
      layers += n;
      most = std::max(most, n);
    }
  EXPECT_EQ(chunks, 32) << layout;
  EXPECT_EQ(layers, 126) << layout;
  EXPECT_EQ(most, 4) << layout;  // no chunk above the priced ceil(126 / 32)
  EXPECT_EQ(layout.substr(0, 2), "\"E");
  EXPECT_NE(layout.find("L\""), std::string::npos);
}

TEST(ExportMegatron, MixtralGetsTheMoeFlags) {
  Plan p = gpt3_plan();
  p.model = mixtral();
  p.training = load_training("llama3-8k");
  p.layout = Layout{16, 4, 4, 1, 1, 1, Recompute::Selective, true, Schedule::OneFOneB, 1, Offload::None};
  p.layout.ep = 8;
  std::string s = export_plan(p, ExportFormat::Megatron);
  expect_megatron_flags(s);
  expect_megatron_batch(p, s);
  EXPECT_TRUE(has(s, "--num-experts 8")) << s;
  EXPECT_TRUE(has(s, "--moe-router-topk 2"));
  EXPECT_TRUE(has(s, "--moe-ffn-hidden-size 14336"));
  EXPECT_TRUE(has(s, "--expert-model-parallel-size 8"));
  EXPECT_TRUE(has(s, "--expert-tensor-parallel-size 1"));
  EXPECT_TRUE(has(s, "--rotary-base 1000000"));
  EXPECT_FALSE(has(s, "--moe-layer-freq"));  // every layer is MoE
}

TEST(ExportMegatron, MlaSharedExpertsDenseLayersAndFp8) {
  Plan p = gpt3_plan();
  Diagnostics d;
  // DeepSeek-V3's shape (its config.json): 3 dense layers, then 256 experts top-8, 1 shared.
  p.model = model_from_json(nlohmann::json::parse(R"({"name": "deepseek-v3", "layers": 8,
      "hidden": 7168, "heads": 128, "ffn_hidden": 18432, "vocab": 129280, "max_seq_len": 4096,
      "gated_mlp": true, "mtp_layers": 1,
      "moe": {"experts": 256, "experts_per_token": 8, "expert_ffn_hidden": 2048,
              "shared_experts": 1, "first_dense_layers": 3},
      "mla": {"q_lora_rank": 1536, "kv_lora_rank": 512, "qk_nope_head_dim": 128,
              "qk_rope_head_dim": 64, "v_head_dim": 128}})"), d);
  ASSERT_TRUE(d.ok());
  p.training.dtype = DType::FP8;
  p.training.fp8_recipe = Fp8Recipe::Blockwise;
  p.layout = Layout{128, 1, 8, 1, 1, 1, Recompute::None, false, Schedule::OneFOneB, 1, Offload::None};
  p.layout.ep = 64;
  std::string s = export_plan(p, ExportFormat::Megatron);
  expect_megatron_flags(s);
  EXPECT_TRUE(has(s, "--multi-latent-attention")) << s;
  EXPECT_TRUE(has(s, "--q-lora-rank 1536"));
  EXPECT_TRUE(has(s, "--kv-lora-rank 512"));
  EXPECT_TRUE(has(s, "--qk-head-dim 128"));
  EXPECT_TRUE(has(s, "--qk-pos-emb-head-dim 64"));
  EXPECT_TRUE(has(s, "--v-head-dim 128"));
  EXPECT_TRUE(has(s, "--moe-shared-expert-intermediate-size 2048"));
  EXPECT_TRUE(has(s, "--moe-layer-freq \"[0,0,0,1,1,1,1,1]\""));
  EXPECT_TRUE(has(s, "--mtp-num-layers 1"));
  EXPECT_TRUE(has(s, "--fp8-format hybrid"));
  EXPECT_TRUE(has(s, "--fp8-recipe blockwise"));
  EXPECT_TRUE(has(s, "--bf16"));
  // 8 layers on pp 8, one each; the MTP module goes with the last stage's layout entry only when
  // the split is uneven.
  EXPECT_FALSE(has(s, "--pipeline-model-parallel-layout"));
}

// Megatron-Core's per-module recomputation as the Megatron-Bridge DeepSeek-V3 recipes set it
// (26.02 GB300: mla_up_proj; H100: mla_up_proj, mlp): one --recompute-modules flag, the names
// space-separated; plain "selective" is Megatron-Core's default, core_attn.
TEST(ExportMegatron, RecomputeModulesBecomeTheRecomputeModulesFlag) {
  Plan p = gpt3_plan();
  std::string plain = export_plan(p, ExportFormat::Megatron);
  EXPECT_TRUE(has(plain, "--recompute-modules core_attn")) << plain;
  p.layout.recompute_modules = kRecomputeMlaUpProj | kRecomputeMlp;
  const std::string s = export_plan(p, ExportFormat::Megatron);
  expect_megatron_flags(s);
  EXPECT_TRUE(has(s, "--recompute-granularity selective")) << s;
  EXPECT_TRUE(has(s, "--recompute-modules mla_up_proj mlp")) << s;
  EXPECT_FALSE(has(s, "core_attn")) << s;
}

TEST(ExportMegatron, ZeroStagesMapToTheDistributedOptimizerAndFsdp) {
  Plan p = gpt3_plan();
  p.layout.zero = 3;
  std::string s = export_plan(p, ExportFormat::Megatron);
  expect_megatron_flags(s);
  EXPECT_TRUE(has(s, "--use-megatron-fsdp")) << s;
  EXPECT_TRUE(has(s, "--data-parallel-sharding-strategy optim_grads_params"));
  EXPECT_TRUE(has(s, "--ckpt-format fsdp_dtensor"));
  // Megatron-FSDP asserts CUDA_DEVICE_MAX_CONNECTIONS != 1.
  EXPECT_FALSE(has(s, "CUDA_DEVICE_MAX_CONNECTIONS=1"));
  p.layout.zero = 2;
  EXPECT_TRUE(has(export_plan(p, ExportFormat::Megatron), "--data-parallel-sharding-strategy optim_grads"));
}

TEST(ExportMegatron, OverlapSwitchesAreTheOnesThePredictionUsed) {
  Plan p = gpt3_plan();
  p.training.tp_comm_overlap = Switch::On;
  p.training.overlap_grad_reduce = Switch::On;
  p.training.overlap_param_gather = Switch::On;
  std::string s = export_plan(p, ExportFormat::Megatron);
  expect_megatron_flags(s);
  EXPECT_TRUE(has(s, "--tp-comm-overlap")) << s;
  EXPECT_TRUE(has(s, "--overlap-grad-reduce"));
  EXPECT_TRUE(has(s, "--overlap-param-gather"));
  EXPECT_TRUE(has(s, "tp_comm_overlap=on"));  // the header lists the assumptions
}

TEST(ExportMegatron, RefusesWhatMegatronCannotRun) {
  Plan p = gpt3_plan();
  p.layout.schedule = Schedule::GPipe;
  try {
    export_plan(p, ExportFormat::Megatron);
    ADD_FAILURE() << "GPipe exported";
  } catch (const Error& e) {
    EXPECT_TRUE(has(e.what(), "GPipe")) << e.what();
    EXPECT_TRUE(has(e.what(), "--fix schedule=1f1b")) << e.what();
  }
  p = gpt3_plan();
  p.layout.offload = Offload::OptimizerAndParams;
  EXPECT_THROW(export_plan(p, ExportFormat::Megatron), Error);
}

TEST(ExportMegatron, RefusesActivationOffloadingNoFlagExpresses) {
  Plan p = gpt3_plan();
  p.layout.activation_offload_layers = 4;
  for (ExportFormat f : {ExportFormat::Megatron, ExportFormat::DeepSpeed, ExportFormat::Torchtitan})
    try {
      export_plan(p, f);
      ADD_FAILURE() << "activation offloading exported";
    } catch (const Error& e) {
      EXPECT_TRUE(has(e.what(), "layout.activation_offload_layers 4")) << e.what();
      EXPECT_TRUE(has(e.what(), "set layout.activation_offload_layers to 0")) << e.what();
    }
}

TEST(ExportLaunch, LaunchLinesStartTheChosenFramework) {
  Plan p = gpt3_plan();  // 1024 GPUs = 128 nodes x 8
  std::string t = export_plan(p, ExportFormat::Torchrun);
  EXPECT_TRUE(has(t,
                  "torchrun --nnodes 128 --nproc-per-node 8 --rdzv-backend c10d "
                  "--rdzv-endpoint $MASTER_ADDR:29500 --no-python parplan run \\\n    --plan plan.json"))
      << t;
  t = export_plan(p, ExportFormat::Torchrun, Framework::Megatron);
  EXPECT_TRUE(has(t, "--rdzv-endpoint $MASTER_ADDR:29500 pretrain_gpt.py \\\n")) << t;
  EXPECT_TRUE(has(t, "export CUDA_DEVICE_MAX_CONNECTIONS=1"));
  std::string m = export_plan(p, ExportFormat::Mpiexec, Framework::Megatron);
  EXPECT_TRUE(has(m, "mpiexec -n 1024 -ppn 8 --hostfile $PBS_NODEFILE --cpu-bind depth -d 8 "
                     "bash -c 'RANK=$PALS_RANKID LOCAL_RANK=$PALS_LOCAL_RANKID WORLD_SIZE=$PMI_SIZE "
                     "exec python3 pretrain_gpt.py \"$@\"' _"))
      << m;
  EXPECT_TRUE(has(m, "--tensor-model-parallel-size 8"));
  p.layout.zero = 3;  // torchtitan shards with FSDP2 (ZeRO-1 is refused)
  p.model = load_model("llama3-405b");  // a model torchtitan has (none for GPT-3)
  std::string s = export_plan(p, ExportFormat::Srun, Framework::Torchtitan);
  EXPECT_TRUE(has(s, "srun --nodes 128 --ntasks-per-node 8 --gpus-per-node 8")) << s;
  EXPECT_TRUE(has(s, "exec python3 -m torchtitan.train"));
}

TEST(ExportLaunch, PbsJobScriptForPolarisNodes) {
  Plan p = gpt3_plan();
  p.cluster = load_cluster("polaris");  // 4 A100 per node
  p.layout = Layout{8, 4, 2, 1, 1, 1, Recompute::Selective, true, Schedule::OneFOneB, 1, Offload::None};
  const auto files = export_files(p, ExportFormat::Pbs, Framework::MegatronDeepSpeed);
  ASSERT_EQ(files.size(), 2u);  // the job script and its ds_config.json
  const std::string& j = files[0].text;
  EXPECT_EQ(files[0].name, "job.pbs");
  EXPECT_TRUE(has(j, "#PBS -l select=16:system=polaris")) << j;  // 64 GPUs / 4 per node
  EXPECT_TRUE(has(j, "mpiexec -n 64 -ppn 4 --hostfile $PBS_NODEFILE --cpu-bind depth -d 16"));
  EXPECT_TRUE(has(j, "--deepspeed_config ds_config.json"));
  EXPECT_EQ(files[1].name, "ds_config.json");
  EXPECT_EQ(nlohmann::json::parse(files[1].text)["train_batch_size"], 1536);
}

TEST(ExportLaunch, ParsesFormatAndFrameworkNames) {
  ExportFormat f;
  EXPECT_TRUE(parse_export_format("megatron", f));
  EXPECT_EQ(f, ExportFormat::Megatron);
  EXPECT_TRUE(parse_export_format("torchtitan-toml", f));
  EXPECT_EQ(f, ExportFormat::TorchtitanToml);
  EXPECT_TRUE(parse_export_format("pbs", f));
  EXPECT_EQ(f, ExportFormat::Pbs);
  EXPECT_FALSE(parse_export_format("horovod", f));
  Framework w;
  EXPECT_TRUE(parse_framework("megatron-deepspeed", w));
  EXPECT_EQ(w, Framework::MegatronDeepSpeed);
  EXPECT_FALSE(parse_framework("colossal", w));
  Plan p = gpt3_plan();
  EXPECT_EQ(priced_framework(p), Framework::Megatron);  // train.framework "" = megatron-core
  p.training.framework = "torchtitan";
  EXPECT_EQ(priced_framework(p), Framework::Torchtitan);
}

}  // namespace
}  // namespace parplan::planner
