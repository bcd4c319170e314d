// Hugging Face config.json reading (model/src/hf.cpp) on the real configs in tests/data/hf/
// (SOURCES.md says where each one comes from).
#include <fstream>
#include <string>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "parplan/model/model.hpp"

namespace parplan {
namespace {

nlohmann::json config(const std::string& name) {
  std::ifstream in(std::string(PARPLAN_SOURCE_DIR) + "/tests/data/hf/" + name + ".json");
  EXPECT_TRUE(in) << name;
  return nlohmann::json::parse(in);
}

Model read(const nlohmann::json& j, Diagnostics& d) { return model_from_json(j, d); }

bool mentions(const std::vector<std::string>& v, const std::string& s) {
  for (const auto& x : v)
    if (x.find(s) != std::string::npos) return true;
  return false;
}

TEST(HfConfig, EveryStoredConfigReadsWithoutErrors) {
  for (const char* name :
       {"llama-3.1-8b", "mistral-7b-v0.3", "mixtral-8x7b", "qwen2.5-7b", "qwen1.5-moe-a2.7b",
        "qwen3-8b", "qwen3-30b-a3b", "gemma-7b", "gemma-2-2b", "gemma-3-12b", "phi-4", "falcon-7b",
        "pythia-1b", "gpt2-large", "deepseek-v2", "deepseek-v3", "gpt-oss-20b"}) {
    Diagnostics d;
    Model m = read(config(name), d);
    EXPECT_TRUE(d.ok()) << name << ": " << (d.errors.empty() ? "" : d.errors.front());
    EXPECT_FALSE(m.model_type.empty()) << name;
  }
}

TEST(HfConfig, KnownHarmlessKeysDoNotWarn) {
  // Mistral's config carries ~60 generation and bookkeeping keys; none changes the cost.
  Diagnostics d;
  read(config("mistral-7b-v0.3"), d);
  EXPECT_TRUE(d.warnings.empty()) << d.warnings.front();
  Diagnostics d2;
  read(config("llama-3.1-8b"), d2);
  EXPECT_TRUE(d2.warnings.empty()) << d2.warnings.front();
}

TEST(HfConfig, AnUnknownKeyWarnsByName) {
  auto j = config("llama-3.1-8b");
  j["num_dense_experts"] = 3;
  Diagnostics d;
  read(j, d);
  EXPECT_TRUE(d.ok());
  EXPECT_TRUE(mentions(d.warnings, "model.num_dense_experts")) << d.warnings.size();
}

TEST(HfConfig, DeepSeekQuantizationConfigWarns) {
  // Training runs in train.dtype; the checkpoint's FP8 storage format is not a model parameter.
  Diagnostics d;
  read(config("deepseek-v3"), d);
  EXPECT_TRUE(mentions(d.warnings, "model.quantization_config"));
}

TEST(HfConfig, UnknownModelTypeWithExpertKeysIsAnErrorNamingThem) {
  auto j = nlohmann::json::parse(R"({"model_type": "granitemoe", "hidden_size": 1024,
      "num_hidden_layers": 24, "num_attention_heads": 16, "num_key_value_heads": 8,
      "intermediate_size": 512, "vocab_size": 49155, "num_local_experts": 32,
      "num_experts_per_tok": 8, "embedding_multiplier": 12.0, "torch_dtype": "bfloat16"})");
  Diagnostics d;
  read(j, d);
  ASSERT_FALSE(d.ok());
  const std::string& e = d.errors.front();
  EXPECT_NE(e.find("granitemoe"), std::string::npos) << e;
  EXPECT_NE(e.find("embedding_multiplier"), std::string::npos) << e;
  EXPECT_EQ(e.find("torch_dtype"), std::string::npos) << e;  // harmless keys are not listed
}

TEST(HfConfig, UnknownModelTypeWithOnlyCommonKeysWarns) {
  auto j = nlohmann::json::parse(R"({"model_type": "olmo2", "hidden_size": 2048,
      "num_hidden_layers": 16, "num_attention_heads": 16, "intermediate_size": 8192,
      "vocab_size": 100352, "hidden_act": "silu"})");
  Diagnostics d;
  Model m = read(j, d);
  EXPECT_TRUE(d.ok());
  EXPECT_TRUE(mentions(d.warnings, "olmo2"));
  EXPECT_TRUE(m.gated_mlp);
}

TEST(HfConfig, MixtralIsMoeWithTheFfnAsExpertWidth) {
  Diagnostics d;
  Model m = read(config("mixtral-8x7b"), d);
  EXPECT_EQ(m.moe.experts, 8);
  EXPECT_EQ(m.moe.experts_per_token, 2);
  EXPECT_EQ(m.moe.expert_ffn_hidden, 14336);
  EXPECT_EQ(m.moe_layers(), 32);
  EXPECT_EQ(m.sliding_window, 0);  // "sliding_window": null
}

TEST(HfConfig, DeepSeekV3MlaMoeAndMtp) {
  Diagnostics d;
  Model m = read(config("deepseek-v3"), d);
  EXPECT_EQ(m.mla.q_lora_rank, 1536);
  EXPECT_EQ(m.mla.kv_lora_rank, 512);
  EXPECT_EQ(m.mla.qk_rope_head_dim, 64);
  EXPECT_EQ(m.moe.experts, 256);
  EXPECT_EQ(m.moe.shared_experts, 1);
  EXPECT_EQ(m.moe.shared_expert_ffn_hidden, 2048);
  EXPECT_EQ(m.moe.first_dense_layers, 3);
  EXPECT_EQ(m.moe_layers(), 58);
  EXPECT_TRUE(m.moe.router_bias);  // topk_method noaux_tc: per-expert bias
  EXPECT_EQ(m.mtp_layers, 1);
  EXPECT_EQ(m.rope_scaling, "yarn");
  EXPECT_DOUBLE_EQ(m.rope_scaling_factor, 40);
}

TEST(HfConfig, QwenMoeSharedExpertAndQkNorm) {
  Diagnostics d;
  Model q2 = read(config("qwen1.5-moe-a2.7b"), d);
  EXPECT_EQ(q2.moe.shared_experts, 1);
  EXPECT_EQ(q2.moe.shared_expert_ffn_hidden, 5632);
  EXPECT_TRUE(q2.qkv_bias);
  EXPECT_EQ(q2.sliding_window, 0);  // use_sliding_window: false
  Model q3 = read(config("qwen3-30b-a3b"), d);
  EXPECT_TRUE(q3.qk_norm);
  EXPECT_FALSE(q3.qkv_bias);
  EXPECT_EQ(q3.head_dim(), 128);  // explicit: 2048 / 32 would be 64
}

TEST(HfConfig, GemmaHeadDimTiesAndWindows) {
  Diagnostics d;
  Model g1 = read(config("gemma-7b"), d);
  EXPECT_EQ(g1.head_dim(), 256);
  EXPECT_TRUE(g1.tied_embeddings);  // GemmaConfig default
  EXPECT_TRUE(g1.gated_mlp);        // GeGLU
  Model g2 = read(config("gemma-2-2b"), d);
  EXPECT_EQ(g2.sliding_window, 4096);
  EXPECT_EQ(g2.sliding_window_pattern, 2);  // alternating local/global
  Diagnostics d3;
  Model g3 = read(config("gemma-3-12b"), d3);  // decoder nested in text_config
  EXPECT_TRUE(d3.ok());
  EXPECT_EQ(g3.hidden, 3840);
  EXPECT_EQ(g3.sliding_window_pattern, 6);
  EXPECT_TRUE(g3.qk_norm);
  EXPECT_TRUE(mentions(d3.warnings, "vision_config"));
}

TEST(HfConfig, FalconMultiQueryAlibiAndParallelAttention) {
  Diagnostics d;
  Model f = read(config("falcon-7b"), d);
  EXPECT_EQ(f.kv_heads, 1);  // multi_query without new_decoder_architecture ignores num_kv_heads
  EXPECT_TRUE(f.parallel_residual);
  EXPECT_FALSE(f.linear_bias);  // "bias": false
  EXPECT_EQ(f.ffn_hidden, 4 * 4544);
  auto j = config("falcon-7b");
  j["new_decoder_architecture"] = true;
  j["num_kv_heads"] = 8;
  j["num_attention_heads"] = 128;
  j["hidden_size"] = 8192;
  Model f40 = read(j, d);
  EXPECT_EQ(f40.kv_heads, 8);
}

TEST(HfConfig, GptNeoXRotaryAndGpt2Learned) {
  Diagnostics d;
  Model n = read(config("pythia-1b"), d);
  EXPECT_EQ(n.position, Position::Rotary);  // no learned position table
  EXPECT_TRUE(n.parallel_residual);
  EXPECT_TRUE(n.qkv_bias);
  Model g = read(config("gpt2-large"), d);
  EXPECT_EQ(g.position, Position::Learned);
  EXPECT_EQ(g.max_seq_len, 1024);
  EXPECT_TRUE(g.tied_embeddings);
  EXPECT_EQ(g.ffn_hidden, 4 * 1280);
}

TEST(HfConfig, GptOssExpertsBiasesAndAlternatingWindows) {
  Diagnostics d;
  Model m = read(config("gpt-oss-20b"), d);
  EXPECT_EQ(m.moe.experts, 32);
  EXPECT_EQ(m.moe.experts_per_token, 4);
  EXPECT_EQ(m.head_dim(), 64);
  EXPECT_TRUE(m.qkv_bias);
  EXPECT_TRUE(m.linear_bias);
  EXPECT_TRUE(m.moe.router_bias);
  EXPECT_EQ(m.sliding_window, 128);
  EXPECT_EQ(m.sliding_window_pattern, 2);  // layer_types: 12 sliding, 12 full
}

}  // namespace
}  // namespace parplan
