// Parameter totals of each supported Hugging Face model_type, counted by hand from the real
// config.json (tests/data/hf/) and compared with what count_params gives and what the model's
// publisher states (tests/data/hf/SOURCES.md).
#include <fstream>
#include <string>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "parplan/cost/flops.hpp"
#include "parplan/model/model.hpp"

namespace parplan::cost {
namespace {

Model hf(const std::string& name) {
  std::ifstream in(std::string(PARPLAN_SOURCE_DIR) + "/tests/data/hf/" + name + ".json");
  Diagnostics d;
  Model m = model_from_json(nlohmann::json::parse(in), d);
  EXPECT_TRUE(d.ok()) << name;
  return m;
}

// Published figure (B) within `rel` of what parplan counts.
void near_published(double counted, double published_b, double rel) {
  EXPECT_NEAR(counted / 1e9, published_b, published_b * rel);
}

TEST(ParamCount, LlamaEqualsTheCheckpointExactly) {
  // h 4096, 32 layers, 32 heads, 8 KV heads of 128, SwiGLU 14336, vocab 128256, untied.
  // Layer: QKV 4096*(4096+2*1024) + O 4096*4096 + MLP 3*4096*14336 + 2 RMSNorms 2*4096.
  const double layer = 4096.0 * 6144 + 4096.0 * 4096 + 3.0 * 4096 * 14336 + 2 * 4096;
  const double total = 32 * layer + 2.0 * 128256 * 4096 + 4096;  // embedding, head, final norm
  EXPECT_DOUBLE_EQ(total, 8030261248.0);  // Llama-3.1-8B safetensors count
  EXPECT_DOUBLE_EQ(count_params(hf("llama-3.1-8b")).total, total);
}

TEST(ParamCount, Mistral) {
  const double layer = 4096.0 * 6144 + 4096.0 * 4096 + 3.0 * 4096 * 14336 + 2 * 4096;
  const double total = 32 * layer + 2.0 * 32768 * 4096 + 4096;
  EXPECT_DOUBLE_EQ(count_params(hf("mistral-7b-v0.3")).total, total);
  near_published(total, 7.25, 0.005);
}

TEST(ParamCount, MixtralTotalAndActive) {
  // Per layer: attention 41,943,040; 8 experts of 3*4096*14336; router 4096*8; 2 norms.
  const double attn = 4096.0 * 6144 + 4096.0 * 4096, expert = 3.0 * 4096 * 14336;
  const double total = 32 * (attn + 8 * expert + 4096 * 8 + 2 * 4096) + 2.0 * 32000 * 4096 + 4096;
  const double active = total - 32 * 6 * expert;  // a token skips 6 of the 8 experts
  const ParamCount p = count_params(hf("mixtral-8x7b"));
  EXPECT_DOUBLE_EQ(p.total, total);
  EXPECT_DOUBLE_EQ(p.active, active);
  near_published(p.total, 46.7, 0.002);   // Jiang et al. 2024: 46.7B total
  near_published(p.active, 12.9, 0.002);  // 12.9B active
}

TEST(ParamCount, Qwen2HasQkvBiases) {
  // h 3584, 28 heads, 4 KV heads of 128: QKV 3584*(3584+1024) + biases 3584+1024 + O 3584^2.
  const double layer = 3584.0 * 4608 + 4608 + 3584.0 * 3584 + 3.0 * 3584 * 18944 + 2 * 3584;
  const double total = 28 * layer + 2.0 * 152064 * 3584 + 3584;
  EXPECT_DOUBLE_EQ(count_params(hf("qwen2.5-7b")).total, total);
  near_published(total, 7.61, 0.002);
}

TEST(ParamCount, Qwen2MoeSharedExpert) {
  // 60 experts of 3*2048*1408, one shared expert of 3*2048*5632, router 2048*60; Q/K/V biases.
  const double attn = 2048.0 * 6144 + 6144 + 2048.0 * 2048;
  const double expert = 3.0 * 2048 * 1408, shared = 3.0 * 2048 * 5632;
  const double layer = attn + 60 * expert + shared + 2048 * 60 + 2 * 2048;
  const double total = 24 * layer + 2.0 * 151936 * 2048 + 2048;
  const ParamCount p = count_params(hf("qwen1.5-moe-a2.7b"));
  EXPECT_DOUBLE_EQ(p.total, total);
  EXPECT_DOUBLE_EQ(p.active, total - 24 * 56 * expert);  // 4 of 60 routed experts active
  // The shared-expert gate (2048 per layer, 49,152 in all) is not counted.
  near_published(p.total, 14.3, 0.003);
  near_published(p.active, 2.7, 0.01);
}

TEST(ParamCount, Qwen3QkNorm) {
  // Per-head RMSNorm on Q and K: 2 * 128 per layer.
  const double layer = 4096.0 * 6144 + 4096.0 * 4096 + 2 * 128 + 3.0 * 4096 * 12288 + 2 * 4096;
  const double total = 36 * layer + 2.0 * 151936 * 4096 + 4096;
  EXPECT_DOUBLE_EQ(count_params(hf("qwen3-8b")).total, total);
  near_published(total, 8.19, 0.002);
}

TEST(ParamCount, Qwen3MoeExplicitHeadDim) {
  // 32 heads of 128 on h 2048 (q width 4096), 4 KV heads; 128 experts of 3*2048*768, top 8.
  const double attn = 2048.0 * (4096 + 1024) + 4096.0 * 2048 + 2 * 128;
  const double expert = 3.0 * 2048 * 768;
  const double layer = attn + 128 * expert + 2048 * 128 + 2 * 2048;
  const double total = 48 * layer + 2.0 * 151936 * 2048 + 2048;
  const ParamCount p = count_params(hf("qwen3-30b-a3b"));
  EXPECT_DOUBLE_EQ(p.total, total);
  EXPECT_DOUBLE_EQ(p.active, total - 48 * 120 * expert);
  near_published(p.total, 30.5, 0.002);
  near_published(p.active, 3.3, 0.02);
}

TEST(ParamCount, GemmaTiedGeGluHeadDim256) {
  // 16 heads and 16 KV heads of 256 on h 3072: QKV 3072*3*4096, O 4096*3072; GeGLU 3*3072*24576.
  const double layer = 3072.0 * 3 * 4096 + 4096.0 * 3072 + 3.0 * 3072 * 24576 + 2 * 3072;
  const double total = 28 * layer + 256000.0 * 3072 + 3072;  // tied: one embedding table
  EXPECT_DOUBLE_EQ(count_params(hf("gemma-7b")).total, total);
  near_published(total, 8.54, 0.002);
}

TEST(ParamCount, Gemma2) {
  // 8 heads, 4 KV heads of 256 on h 2304. Gemma 2 has 4 RMSNorms per layer; parplan counts 2
  // (26 * 2 * 2304 = 119,808 fewer than the checkpoint's 2,614,341,888).
  const double layer = 2304.0 * (2048 + 2048) + 2048.0 * 2304 + 3.0 * 2304 * 9216 + 2 * 2304;
  const double total = 26 * layer + 256000.0 * 2304 + 2304;
  EXPECT_DOUBLE_EQ(count_params(hf("gemma-2-2b")).total, total);
  EXPECT_DOUBLE_EQ(total + 26 * 2 * 2304, 2614341888.0);
}

TEST(ParamCount, Gemma3TextConfig) {
  // text_config: 16 heads, 8 KV heads of 256 on h 3840, qk-norm; vocab 262208, tied.
  const double layer =
      3840.0 * (4096 + 4096) + 4096.0 * 3840 + 2 * 256 + 3.0 * 3840 * 15360 + 2 * 3840;
  const double total = 48 * layer + 262208.0 * 3840 + 3840;
  EXPECT_DOUBLE_EQ(count_params(hf("gemma-3-12b")).total, total);
  near_published(total + 0.42e9, 12.2, 0.005);  // published 12.2B includes the 0.42B vision tower
}

TEST(ParamCount, Phi3) {
  const double layer = 5120.0 * (5120 + 2560) + 5120.0 * 5120 + 3.0 * 5120 * 17920 + 2 * 5120;
  const double total = 40 * layer + 2.0 * 100352 * 5120 + 5120;
  EXPECT_DOUBLE_EQ(count_params(hf("phi-4")).total, total);
  near_published(total, 14.7, 0.005);
}

TEST(ParamCount, FalconMultiQuery) {
  // 71 heads of 64 on h 4544, one KV head: QKV 4544*(4544+128), O 4544^2; GELU MLP 2*4544*18176;
  // LayerNorms with bias, tied embedding. Falcon-7B's parallel block has one LayerNorm, parplan
  // counts two (32 * 2 * 4544 = 290,816 more than the checkpoint's 6,921,720,704).
  const double layer = 4544.0 * 4672 + 4544.0 * 4544 + 2.0 * 4544 * 18176 + 2 * 2 * 4544;
  const double total = 32 * layer + 65024.0 * 4544 + 2 * 4544;
  EXPECT_DOUBLE_EQ(count_params(hf("falcon-7b")).total, total);
  EXPECT_DOUBLE_EQ(total - 32 * 2 * 4544, 6921720704.0);
}

TEST(ParamCount, GptNeoXEqualsTheCheckpointExactly) {
  // Pythia-1B: biases everywhere, rotary (no position table), untied embed_in / embed_out.
  const double layer = 2048.0 * 6144 + 6144 + 2048.0 * 2048 + 2048 + 2.0 * 2048 * 8192 + 8192 +
                       2048 + 2 * 2 * 2048;
  const double total = 16 * layer + 2.0 * 50304 * 2048 + 2 * 2048;
  EXPECT_DOUBLE_EQ(total, 1011781632.0);
  EXPECT_DOUBLE_EQ(count_params(hf("pythia-1b")).total, total);
}

TEST(ParamCount, Gpt2EqualsTheCheckpointExactly) {
  // GPT-2 large: learned positions 1024*1280, tied head, biases, LayerNorms.
  const double layer = 1280.0 * 3840 + 3840 + 1280.0 * 1280 + 1280 + 2.0 * 1280 * 5120 + 5120 +
                       1280 + 2 * 2 * 1280;
  const double total = 36 * layer + 50257.0 * 1280 + 1024.0 * 1280 + 2 * 1280;
  EXPECT_DOUBLE_EQ(total, 774030080.0);
  EXPECT_DOUBLE_EQ(count_params(hf("gpt2-large")).total, total);
}

// DeepSeek MLA block (DeepSeek-V2 sec. 2.1): W_DQ h*q_lora, W_UQ q_lora*H*(nope+rope), W_DKV+W_KR
// h*(kv_lora+rope), W_UK+W_UV kv_lora*H*(nope+v), W_O H*v*h, RMSNorms on both latents.
double mla(double h, double H, double qr, double kvr) {
  return h * qr + qr * H * 192 + h * (kvr + 64) + kvr * H * 256 + H * 128 * h + qr + kvr;
}

TEST(ParamCount, DeepSeekV2) {
  const double h = 5120, attn = mla(h, 128, 1536, 512), expert = 3 * h * 1536;
  const double dense = attn + 3 * h * 12288 + 2 * h;
  const double moe = attn + 160 * expert + 2 * expert + h * 160 + 2 * h;  // 2 shared experts
  const double total = dense + 59 * moe + 2 * 102400 * h + h;
  const ParamCount p = count_params(hf("deepseek-v2"));
  EXPECT_DOUBLE_EQ(p.total, total);
  EXPECT_DOUBLE_EQ(p.active, total - 59 * 154 * expert);  // 6 of 160 routed
  near_published(p.total, 236, 0.002);  // DeepSeek-V2 report: 236B total, 21B activated
  near_published(p.active, 21, 0.02);
}

TEST(ParamCount, DeepSeekV3WithMtp) {
  const double h = 7168, attn = mla(h, 128, 1536, 512), expert = 3 * h * 2048;
  const double dense = attn + 3 * h * 18432 + 2 * h;
  const double moe = attn + 256 * expert + expert + (h * 256 + 256) + 2 * h;  // router + bias
  const double main = 3 * dense + 58 * moe + 2 * 129280 * h + h;
  const double mtp = moe + 2 * h * h + 3 * h;  // one MTP block, M_k (2h x h), 3 RMSNorms
  const ParamCount p = count_params(hf("deepseek-v3"));
  EXPECT_DOUBLE_EQ(p.mtp, mtp);
  EXPECT_DOUBLE_EQ(p.total, main + mtp);
  near_published(main, 671, 0.001);  // report sec. 1: 671B total (main model)
  near_published(p.mtp, 11.5, 0.01);  // README_WEIGHTS: 11.5B unique MTP parameters
  // Active: a token uses 8 of 256 routed experts, in the 58 MoE layers and the MTP block.
  EXPECT_DOUBLE_EQ(p.active, p.total - 59 * 248 * expert);
  // README_WEIGHTS: the main model activates 36.6B, the output head included, the input
  // embedding (a lookup) not.
  near_published(main - 58 * 248 * expert - p.embedding, 36.6, 0.002);
}

TEST(ParamCount, GptOssBiasesEverywhere) {
  // 64 heads, 8 KV heads of 64 on h 2880; Q/K/V/O biases; 32 experts of 3*2880*2880 with
  // biases 2*2880 + 2880; router 2880*32 + 32. The 64 attention sinks per layer (1,536 in all)
  // are not counted: the checkpoint has 20,914,757,184.
  const double h = 2880, attn = h * (4096 + 1024) + 4096 * h + 4096 + 1024 + h;
  const double expert = 3 * h * h + 3 * h;
  const double layer = attn + 32 * expert + h * 32 + 32 + 2 * h;
  const double total = 24 * layer + 2 * 201088 * h + h;
  const ParamCount p = count_params(hf("gpt-oss-20b"));
  EXPECT_DOUBLE_EQ(p.total, total);
  EXPECT_DOUBLE_EQ(total + 24 * 64, 20914757184.0);
  // gpt-oss model card: 3.6B active, without the input embedding.
  near_published(p.active - p.embedding, 3.61, 0.005);
}

}  // namespace
}  // namespace parplan::cost
