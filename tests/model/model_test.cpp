#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "parplan/model/cluster.hpp"
#include "parplan/model/model.hpp"
#include "parplan/model/training.hpp"

using namespace parplan;

namespace {
bool mentions(const std::vector<std::string>& v, const std::string& needle) {
  for (const auto& s : v)
    if (s.find(needle) != std::string::npos) return true;
  return false;
}
}  // namespace

TEST(ModelJson, RoundTripsEveryField) {
  Model m;
  m.name = "x";
  m.layers = 4;
  m.hidden = 256;
  m.heads = 8;
  m.kv_heads = 2;
  m.ffn_hidden = 700;
  m.vocab = 1000;
  m.max_seq_len = 512;
  m.tied_embeddings = true;
  m.gated_mlp = true;
  Diagnostics d;
  Model back = model_from_json(to_json(m), d);
  ASSERT_TRUE(d.ok()) << d.errors.front();
  EXPECT_EQ(to_json(back), to_json(m));
}

TEST(ModelJson, DefaultsKvHeadsAndFfnHidden) {
  Diagnostics d;
  Model m = model_from_json(nlohmann::json{{"layers", 2}, {"hidden", 64}, {"heads", 4}, {"vocab", 10}}, d);
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(m.kv_heads, 4);
  EXPECT_EQ(m.ffn_hidden, 256);
  EXPECT_FALSE(m.gated_mlp);
}

TEST(ModelJson, ReportsEveryProblemWithItsFieldPath) {
  Diagnostics d;
  model_from_json(nlohmann::json{{"layers", 0}, {"hidden", "big"}, {"vocab", 10}}, d);
  EXPECT_TRUE(mentions(d.errors, "model.layers"));
  EXPECT_TRUE(mentions(d.errors, "model.hidden"));
  EXPECT_TRUE(mentions(d.errors, "model.heads: is missing"));
}

TEST(ModelJson, RejectsAbsurdLayerCounts) {
  Diagnostics d;
  model_from_json(nlohmann::json::parse(R"({"layers": 1e30, "hidden": 64, "heads": 4, "vocab": 10})"), d);
  ASSERT_FALSE(d.ok());
  EXPECT_TRUE(mentions(d.errors, "model.layers"));
}

TEST(ModelJson, RejectsHiddenNotDivisibleByHeads) {
  Diagnostics d;
  model_from_json(nlohmann::json{{"layers", 2}, {"hidden", 100}, {"heads", 3}, {"vocab", 10}}, d);
  EXPECT_TRUE(mentions(d.errors, "divisible by heads"));
}

TEST(ModelJson, WarnsAboutUnknownKeys) {
  Diagnostics d;
  model_from_json(nlohmann::json{{"layers", 2}, {"hidden", 64}, {"heads", 4}, {"vocab", 10}, {"layrs", 3}}, d);
  EXPECT_TRUE(d.ok());
  EXPECT_TRUE(mentions(d.warnings, "model.layrs"));
}

TEST(HuggingFaceConfig, ReadsGpt2Keys) {
  auto j = nlohmann::json::parse(R"({"model_type": "gpt2", "n_embd": 768, "n_head": 12,
      "n_layer": 12, "n_positions": 1024, "vocab_size": 50257})");
  Diagnostics d;
  Model m = model_from_json(j, d);
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(m.hidden, 768);
  EXPECT_EQ(m.layers, 12);
  EXPECT_EQ(m.ffn_hidden, 3072);
  EXPECT_EQ(m.max_seq_len, 1024);
  EXPECT_TRUE(m.tied_embeddings);
  EXPECT_FALSE(m.gated_mlp);
}

TEST(HuggingFaceConfig, ReadsLlamaKeysWithGroupedQueryAttention) {
  // meta-llama/Meta-Llama-3-8B config.json
  auto j = nlohmann::json::parse(R"({"hidden_act": "silu", "hidden_size": 4096,
      "intermediate_size": 14336, "max_position_embeddings": 8192, "model_type": "llama",
      "num_attention_heads": 32, "num_hidden_layers": 32, "num_key_value_heads": 8,
      "rms_norm_eps": 1e-05, "rope_theta": 500000.0, "tie_word_embeddings": false,
      "vocab_size": 128256})");
  Diagnostics d;
  Model m = model_from_json(j, d);
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(m.kv_heads, 8);
  EXPECT_EQ(m.ffn_hidden, 14336);
  EXPECT_TRUE(m.gated_mlp);
  EXPECT_FALSE(m.tied_embeddings);
}

TEST(ClusterJson, ConvertsUnitsAtTheEdge) {
  auto j = nlohmann::json::parse(R"({"nodes": 2, "gpus_per_node": 8,
      "gpu": {"memory_GiB": 80, "memory_GBps": 2039, "peak_tflops": {"bf16": 312}},
      "intra_node": {"bandwidth_GBps": 300, "latency_us": 2},
      "inter_node": {"nic_GBps": 25, "nics_per_node": 8, "latency_us": 5}})");
  Diagnostics d;
  Cluster c = cluster_from_json(j, d);
  ASSERT_TRUE(d.ok());
  EXPECT_DOUBLE_EQ(c.gpu.memory_bytes, 80.0 * 1024 * 1024 * 1024);
  EXPECT_DOUBLE_EQ(c.intra.bandwidth_bytes_per_s, 300e9);
  EXPECT_DOUBLE_EQ(c.inter.latency_s, 5e-6);
  EXPECT_DOUBLE_EQ(c.gpu.peak_flops(DType::BF16), 312e12);
  Diagnostics d2;
  Cluster back = cluster_from_json(to_json(c), d2);
  ASSERT_TRUE(d2.ok());
  EXPECT_EQ(to_json(back), to_json(c));
}

TEST(ClusterJson, RejectsZeroGpusAndZeroBandwidth) {
  auto j = nlohmann::json::parse(R"({"nodes": 1, "gpus_per_node": 0,
      "gpu": {"memory_GiB": 80, "memory_GBps": 2039, "peak_tflops": {"bf16": 312}},
      "intra_node": {"bandwidth_GBps": 0}})");
  Diagnostics d;
  cluster_from_json(j, d);
  EXPECT_TRUE(mentions(d.errors, "cluster.gpus_per_node"));
  EXPECT_TRUE(mentions(d.errors, "cluster.intra_node.bandwidth_GBps"));
}

TEST(TrainingJson, ParsesDtypeAndRejectsUnknownOnes) {
  Diagnostics d;
  Training t = training_from_json(nlohmann::json{{"global_batch", 8}, {"seq_len", 128}, {"dtype", "fp16"}}, d);
  EXPECT_TRUE(d.ok());
  EXPECT_EQ(t.dtype, DType::FP16);
  EXPECT_EQ(t.element_bytes(), 2);
  Diagnostics d2;
  training_from_json(nlohmann::json{{"global_batch", 8}, {"seq_len", 128}, {"dtype", "fp12"}}, d2);
  EXPECT_TRUE(mentions(d2.errors, "train.dtype"));
}

TEST(ClusterJson, HostFieldsWrittenAsZeroReadBack) {
  Diagnostics d;
  Cluster c = cluster_from_json(nlohmann::json::parse(R"({"nodes": 1, "gpus_per_node": 2,
      "gpu": {"memory_GiB": 8, "memory_GBps": 10, "peak_tflops": {"fp32": 0.1}},
      "intra_node": {"bandwidth_GBps": 1}, "host": {"memory_GiB": 16}})"), d);
  ASSERT_TRUE(d.ok());
  Diagnostics d2;
  cluster_from_json(to_json(c), d2);
  EXPECT_TRUE(d2.ok()) << (d2.errors.empty() ? "" : d2.errors.front());
}
