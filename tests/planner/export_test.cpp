#include "parplan/planner/export.hpp"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "fixtures.hpp"

namespace parplan::planner {
namespace {

// Narayanan et al. 2021's GPT-3 run: dp=16 tp=8 pp=8, interleaved with 2 chunks per stage.
Plan gpt3_plan() {
  auto in = test::gpt3();
  Plan p;
  p.model = in.m;
  p.cluster = in.c;
  p.training = in.t;
  p.layout = Layout{
      16, 8, 8, 1, 1, 1, Recompute::Selective, true, Schedule::Interleaved, 2, Offload::None};
  return p;
}

bool has(const std::string& text, const std::string& what) {
  return text.find(what) != std::string::npos;
}

TEST(Export, MegatronArgumentsCarryTheLayoutAndTheModel) {
  std::string s = export_plan(gpt3_plan(), ExportFormat::Megatron);
  EXPECT_TRUE(has(s, "--tensor-model-parallel-size 8")) << s;
  EXPECT_TRUE(has(s, "--pipeline-model-parallel-size 8"));
  EXPECT_TRUE(has(s, "--num-layers-per-virtual-pipeline-stage 6"));  // 96 / (8 * 2)
  EXPECT_TRUE(has(s, "--sequence-parallel"));
  EXPECT_TRUE(has(s, "--recompute-granularity selective"));
  EXPECT_TRUE(has(s, "--micro-batch-size 1"));
  EXPECT_TRUE(has(s, "--global-batch-size 1536"));
  EXPECT_TRUE(has(s, "--seq-length 2048"));
  EXPECT_TRUE(has(s, "--num-layers 96"));
  EXPECT_TRUE(has(s, "--hidden-size 12288"));
  EXPECT_TRUE(has(s, "--num-attention-heads 96"));
  EXPECT_TRUE(has(s, "--ffn-hidden-size 49152"));
  EXPECT_TRUE(has(s, "--bf16"));
  EXPECT_TRUE(has(s, "--use-distributed-optimizer"));
  EXPECT_FALSE(has(s, "--context-parallel-size"));  // cp = 1
  EXPECT_FALSE(has(s, "--group-query-attention"));  // kv_heads == heads
}

TEST(Export, MegatronAddsGqaContextParallelAndFullRecompute) {
  Plan p = gpt3_plan();
  p.model = load_model("llama3-405b");
  p.layout = Layout{8, 8, 2, 4, 1, 0, Recompute::Full, false, Schedule::OneFOneB, 1, Offload::None};
  std::string s = export_plan(p, ExportFormat::Megatron);
  EXPECT_TRUE(has(s, "--context-parallel-size 4")) << s;
  EXPECT_TRUE(has(s, "--group-query-attention"));
  EXPECT_TRUE(has(s, "--num-query-groups 8"));
  EXPECT_TRUE(has(s, "--recompute-granularity full"));
  EXPECT_TRUE(has(s, "--recompute-method uniform"));
  EXPECT_TRUE(has(s, "--swiglu"));
  EXPECT_FALSE(has(s, "--use-distributed-optimizer"));
  EXPECT_FALSE(has(s, "--num-layers-per-virtual-pipeline-stage"));
}

TEST(Export, MegatronNotesUnevenPipelineStages) {
  Plan p = gpt3_plan();
  p.layout.pp = 5;  // 96 layers over 5 x 2 chunks
  p.layout.dp = 16;
  std::string s = export_plan(p, ExportFormat::Megatron);
  EXPECT_TRUE(has(s, "do not split evenly")) << s;
  EXPECT_FALSE(has(s, "--num-layers-per-virtual-pipeline-stage"));
  EXPECT_TRUE(has(s, "--pipeline-model-parallel-size 5"));
}

TEST(Export, DeepSpeedConfigHasBatchAccumulationAndZeroStage) {
  Plan p = gpt3_plan();
  p.layout.zero = 3;
  p.layout.offload = Offload::OptimizerAndParams;
  auto j = nlohmann::json::parse(export_plan(p, ExportFormat::DeepSpeed));
  EXPECT_EQ(j["train_batch_size"], 1536);
  EXPECT_EQ(j["train_micro_batch_size_per_gpu"], 1);
  EXPECT_EQ(j["gradient_accumulation_steps"], 96);  // 1536 / (16 dp x 1 mb)
  EXPECT_EQ(j["zero_optimization"]["stage"], 3);
  EXPECT_EQ(j["zero_optimization"]["offload_optimizer"]["device"], "cpu");
  EXPECT_EQ(j["zero_optimization"]["offload_param"]["device"], "cpu");
  EXPECT_EQ(j["bf16"]["enabled"], true);
  EXPECT_EQ(j["fp16"]["enabled"], false);
  EXPECT_TRUE(j.contains("activation_checkpointing"));
}

TEST(Export, LaunchLinesUseTheNodesAndGpusOfThePlan) {
  Plan p = gpt3_plan();  // 1024 GPUs = 128 nodes x 8
  std::string t = export_plan(p, ExportFormat::Torchrun);
  EXPECT_TRUE(has(t,
                  "torchrun --nnodes 128 --nproc-per-node 8 --rdzv-backend c10d "
                  "--rdzv-endpoint $MASTER_ADDR:29500 parplan run --plan plan.json"))
      << t;
  std::string m = export_plan(p, ExportFormat::Mpiexec);
  EXPECT_TRUE(has(m, "mpiexec -n 1024 --ppn 8 --depth 8 --cpu-bind depth parplan run")) << m;
  std::string s = export_plan(p, ExportFormat::Srun);
  EXPECT_TRUE(has(s, "srun --nodes 128 --ntasks-per-node 8 --gpus-per-node 8")) << s;
}

TEST(Export, ParsesFormatNamesAndRejectsUnknownOnes) {
  ExportFormat f;
  EXPECT_TRUE(parse_export_format("megatron", f));
  EXPECT_EQ(f, ExportFormat::Megatron);
  EXPECT_TRUE(parse_export_format("deepspeed", f));
  EXPECT_EQ(f, ExportFormat::DeepSpeed);
  EXPECT_TRUE(parse_export_format("srun", f));
  EXPECT_EQ(f, ExportFormat::Srun);
  EXPECT_FALSE(parse_export_format("horovod", f));
}

}  // namespace
}  // namespace parplan::planner
