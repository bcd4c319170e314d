#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "parplan/model/io.hpp"

using namespace parplan;

namespace {
std::string errors_of(const Layout& l, const Model& m, const Cluster& c, const Training& t) {
  Diagnostics d;
  validate(l, m, c, t, d);
  std::string s;
  for (auto& e : d.errors) s += e + "\n";
  return s;
}
}  // namespace

TEST(LayoutJson, RoundTrips) {
  Layout l;
  l.dp = 16;
  l.tp = 8;
  l.pp = 8;
  l.zero = 1;
  l.recompute = Recompute::Selective;
  l.sequence_parallel = true;
  l.schedule = Schedule::Interleaved;
  l.virtual_stages = 3;
  Diagnostics d;
  EXPECT_EQ(layout_from_json(to_json(l), d), l);
  EXPECT_TRUE(d.ok());
}

TEST(LayoutJson, VirtualStagesImplyTheInterleavedSchedule) {
  Diagnostics d;
  Layout l = layout_from_json(nlohmann::json{{"pp", 8}, {"virtual_stages", 3}}, d);
  EXPECT_EQ(l.schedule, Schedule::Interleaved);
}

TEST(LayoutValidation, ChecksDivisibilityAgainstTheInputs) {
  Model m = load_model("gpt3-175b");
  Cluster c = load_cluster("dgx-a100-80g");
  Training t = load_training("gpt3-1536");
  Layout ok{.dp = 16, .tp = 8, .pp = 8};
  EXPECT_EQ(errors_of(ok, m, c, t), "");
  Layout bad_tp = ok;
  bad_tp.tp = 5;
  EXPECT_NE(errors_of(bad_tp, m, c, t).find("layout.tp"), std::string::npos);
  Layout bad_pp = ok;
  bad_pp.pp = 97;
  EXPECT_NE(errors_of(bad_pp, m, c, t).find("layout.pp"), std::string::npos);
  Layout uneven = ok;  // 96 layers on 7 stages: allowed, with a warning
  uneven.pp = 7;
  uneven.dp = 1;
  Diagnostics d;
  validate(uneven, m, c, t, d);
  EXPECT_TRUE(d.ok());
  ASSERT_EQ(d.warnings.size(), 1u);
  EXPECT_NE(d.warnings[0].find("uneven"), std::string::npos);
  Layout bad_batch = ok;
  bad_batch.micro_batch = 5;
  EXPECT_NE(errors_of(bad_batch, m, c, t).find("global_batch"), std::string::npos);
  Layout too_big = ok;
  too_big.dp = 1024;
  EXPECT_NE(errors_of(too_big, m, c, t).find("cluster has"), std::string::npos);
}

// Llama 3 405B (arXiv:2407.21783 sec. 3.3.2): 126 layers on PP 16 with one layer removed from the
// first and the last stage, so the first chunk of stage 0 holds only the embedding and the last
// chunk of stage 15 only the output layer: 7 + 14 x 8 + 7 layers, 8 chunks of one layer per
// stage. pp * v = 128 > 126 layers is valid there; a 9th chunk would leave one without a layer.
TEST(LayoutValidation, FirstAndLastStageChunksMayHoldOnlyTheEmbeddingAndHead) {
  const Model m = load_model("llama3-405b");
  const Cluster c = load_cluster("dgx-h100-80g");
  Training t;
  t.global_batch = 2048;
  t.seq_len = 8192;
  Layout l;
  l.tp = 8;
  l.pp = 16;
  l.dp = 64;
  l.micro_batch = 1;
  l.schedule = Schedule::Interleaved;
  l.virtual_stages = 8;
  l.first_stage_layers = 7;
  l.last_stage_layers = 7;
  Cluster big = c;
  big.nodes = 1024;
  EXPECT_EQ(errors_of(l, m, big, t), "");
  l.virtual_stages = 16;  // 16 chunks on the first stage for 7 layers and the embedding
  EXPECT_NE(errors_of(l, m, big, t).find("virtual_stages"), std::string::npos);
  l.virtual_stages = 8;
  l.first_stage_layers = l.last_stage_layers = 0;  // even stages: 128 chunks for 126 layers
  EXPECT_NE(errors_of(l, m, big, t).find("exceeds the model's layers"), std::string::npos);
}

TEST(LayoutValidation, UnevenStagesWithoutAPipelineNameTheFix) {
  const Model m = load_model("gpt3-175b");
  const Cluster c = load_cluster("dgx-a100-80g");
  Training t;
  t.global_batch = 64;
  t.seq_len = 2048;
  Layout l;
  l.tp = 8;
  l.first_stage_layers = 4;  // pp = 1: there is no first stage to make uneven
  const std::string e = errors_of(l, m, c, t);
  EXPECT_NE(e.find("layout.first_stage_layers"), std::string::npos) << e;
  EXPECT_NE(e.find("pp >= 2"), std::string::npos) << e;
}

TEST(LayoutValidation, ActivationOffloadingRoundTripsAndLeavesAStageALayer) {
  Layout l;
  l.dp = 64;
  l.zero = 3;
  l.activation_offload_layers = 40;  // Megatron-Bridge's Llama 3 70B GB200 FP8-CS recipe
  Diagnostics d;
  EXPECT_EQ(layout_from_json(to_json(l), d), l);
  EXPECT_TRUE(d.ok());
  EXPECT_EQ(to_json(Layout{}).count("activation_offload_layers"), 0u);  // absent when off
  EXPECT_NE(describe(l).find("act_offload=40"), std::string::npos);
  const Model m = load_model("llama3-70b");  // 80 layers
  const Cluster c = load_cluster("dgx-h100-80g");
  Training t;
  t.global_batch = 256;
  t.seq_len = 8192;
  EXPECT_EQ(errors_of(l, m, c, t), "");
  l.pp = 2;  // 40 layers a stage: the last one's activations are used at once
  l.dp = 32;
  const std::string e = errors_of(l, m, c, t);
  EXPECT_NE(e.find("layout.activation_offload_layers"), std::string::npos) << e;
  EXPECT_NE(e.find("(40)"), std::string::npos) << e;
  Diagnostics neg;
  layout_from_json(nlohmann::json{{"activation_offload_layers", -1}}, neg);
  EXPECT_FALSE(neg.ok());
}

// Megatron-Core's --recompute-modules (Megatron-LM@b0cc270 transformer_config.py).
TEST(LayoutJson, RecomputeModulesParseRoundTripAndCoreAttnIsPlainSelective) {
  Diagnostics d;
  const Layout l = layout_from_json(
      nlohmann::json{{"dp", 8}, {"recompute_modules", {"moe_act", "mla_up_proj"}}}, d);
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(l.recompute, Recompute::Selective);  // implied by the modules
  EXPECT_EQ(l.recompute_modules, kRecomputeMlaUpProj | kRecomputeMoeAct);
  EXPECT_EQ(to_json(l)["recompute_modules"], nlohmann::json({"moe_act", "mla_up_proj"}));
  EXPECT_EQ(layout_from_json(to_json(l), d), l);
  EXPECT_NE(describe(l).find("rc=selective(moe_act,mla_up_proj)"), std::string::npos) << describe(l);
  // ["core_attn"] is what "selective" means: the same layout, written back without the list.
  const Layout core = layout_from_json(
      nlohmann::json{{"recompute", "selective"}, {"recompute_modules", {"core_attn"}}}, d);
  Layout plain;
  plain.recompute = Recompute::Selective;
  EXPECT_EQ(core, plain);
  EXPECT_EQ(to_json(core).count("recompute_modules"), 0u);
  EXPECT_EQ(recomputed_modules(core), kRecomputeCoreAttn);
  EXPECT_EQ(recomputed_modules(Layout{}), 0);
  // An empty list under selective recomputes nothing (Megatron applies no module).
  EXPECT_EQ(layout_from_json(nlohmann::json{{"recompute_modules", nlohmann::json::array()}}, d).recompute,
            Recompute::None);
  EXPECT_TRUE(d.ok());
}

TEST(LayoutJson, RecomputeModulesRejectUnknownNamesAndOtherGranularities) {
  Diagnostics d;
  layout_from_json(nlohmann::json{{"recompute_modules", {"mla_up_proj", "attention"}}}, d);
  ASSERT_EQ(d.errors.size(), 1u);
  EXPECT_NE(d.errors[0].find("layout.recompute_modules"), std::string::npos) << d.errors[0];
  EXPECT_NE(d.errors[0].find("\"attention\""), std::string::npos) << d.errors[0];
  EXPECT_NE(d.errors[0].find("core_attn, moe_act, layernorm, mla_up_proj, mlp, moe, shared_experts"),
            std::string::npos)
      << d.errors[0];
  Diagnostics full;
  layout_from_json(nlohmann::json{{"recompute", "full"}, {"recompute_modules", {"mlp"}}}, full);
  ASSERT_EQ(full.errors.size(), 1u);
  EXPECT_NE(full.errors[0].find("layout.recompute_modules"), std::string::npos);
  EXPECT_NE(full.errors[0].find("selective"), std::string::npos);
  Diagnostics type;
  layout_from_json(nlohmann::json{{"recompute_modules", "mlp"}}, type);
  ASSERT_EQ(type.errors.size(), 1u);
  EXPECT_NE(type.errors[0].find("a JSON array"), std::string::npos) << type.errors[0];
}

// The combinations Megatron-Core's __post_init__ rejects: mla_up_proj without MLA, moe_act
// without MoE, moe_act / layernorm under FP8 delayed scaling.
TEST(LayoutValidation, RecomputeModulesNeedTheModulesTheyRecompute) {
  const Model dense = load_model("llama3-8b");
  const Model v3 = load_model("deepseek-v3");
  Cluster c = load_cluster("dgx-h100-80g");
  c.nodes = 64;
  Training t;
  t.global_batch = 512;
  t.seq_len = 4096;
  Layout l;
  l.dp = 64;
  l.pp = 8;
  l.recompute = Recompute::Selective;
  l.recompute_modules = kRecomputeMlaUpProj;
  const std::string e = errors_of(l, dense, c, t);
  EXPECT_NE(e.find("layout.recompute_modules"), std::string::npos) << e;
  EXPECT_NE(e.find("multi-latent attention"), std::string::npos) << e;
  l.recompute_modules = kRecomputeMoeAct;
  EXPECT_NE(errors_of(l, dense, c, t).find("MoE"), std::string::npos);
  l.recompute_modules = kRecomputeMlaUpProj | kRecomputeMoeAct | kRecomputeLayernorm;
  EXPECT_EQ(errors_of(l, v3, c, t), "");
  t.dtype = DType::FP8;
  t.fp8_recipe = Fp8Recipe::Delayed;
  EXPECT_NE(errors_of(l, v3, c, t).find("delayed scaling"), std::string::npos);
  t.fp8_recipe = Fp8Recipe::Blockwise;
  EXPECT_EQ(errors_of(l, v3, c, t), "");
}
