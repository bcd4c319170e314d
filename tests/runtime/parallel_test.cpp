// The parallel dimensions beyond DP/TP/PP/ZeRO (run_test.cpp): sequence parallelism, the
// interleaved schedule, context parallelism (ring attention) and expert parallelism (MoE), each
// and TP x PP x DP x SP on 8 ranks. Every layout must reproduce the single-process loss of 10
// steps within 1e-5 relative (fp32, Gloo on the CPU; tiny models so a run takes seconds).
// The Llama-family model (examples/models/llama-tiny-char.json: RMSNorm, SwiGLU, rotary, GQA
// with 2 KV heads, no biases, untied; and its SwiGLU-expert MoE twin) runs every dimension too:
// DP, TP+SP, PP 1F1B and interleaved, CP, EP, ZeRO 1-3, TP x PP x DP x SP, KV heads replicated
// at tp 4 > kv_heads 2, and a Hugging Face config.json scaled down with --layers / --hidden.
// ZB-H1 and DualPipeV (split backward, V placement) run PP, PP x DP x ZeRO-1, TP x PP x SP, MoE.
#include <cstdlib>
#include <filesystem>
#include <map>

#include <gtest/gtest.h>

#include "parplan/model/error.hpp"
#include "parplan/model/io.hpp"
#include "parplan/runtime/run.hpp"
#include "../support/tiny_plan.hpp"
#include "run_support.hpp"

using namespace parplan;
namespace fs = std::filesystem;

namespace {

constexpr int64_t kSteps = 10;

fs::path tmp_dir() { return test::process_dir("parplan_par_"); }

enum class Arch { Gpt, Llama };

// The examples' shakespeare-moe (4 layers, the last 3 MoE) or its dense twin; 4 layers so that
// pp 2 x 2 virtual stages has one block per chunk; seq 32 = 2 * cp * tp * 4. Llama: the
// examples' llama-tiny-char, with shakespeare-moe's experts when `moe`.
Plan tiny_plan(Layout l, bool moe = false, Arch arch = Arch::Gpt) {
  Plan p;
  p.model = arch == Arch::Llama ? load_model("llama-tiny-char")
            : moe               ? load_model("shakespeare-moe")
                                : test::char_gpt("tiny-char-4l", 4, 32, 4, 128, 32);
  if (arch == Arch::Llama && moe) p.model.moe = load_model("shakespeare-moe").moe;
  p.model.tied_embeddings = false;
  p.cluster = load_cluster("cpu-host");
  p.cluster.gpus_per_node = 8;  // ranks on this host for the 4- and 8-rank layouts
  p.training = load_training("shakespeare-moe");  // batch 8 x 32 tokens, fp32, Adam 3e-3
  p.layout = l;
  return p;
}

struct Dims {
  int dp = 1, tp = 1, pp = 1, cp = 1, ep = 1, v = 1;
  bool sp = false;
  int zero = 0;
  Schedule s = Schedule::OneFOneB;  // with v 1 (v > 1: interleaved)
};

Layout layout(Dims d) {
  Layout l;
  l.dp = d.dp, l.tp = d.tp, l.pp = d.pp, l.cp = d.cp, l.ep = d.ep;
  l.micro_batch = 2;
  l.zero = d.zero;
  l.sequence_parallel = d.sp;
  l.schedule = d.v > 1 ? Schedule::Interleaved : d.s;
  l.virtual_stages = d.v;
  l.recompute = Recompute::None;
  return l;
}

runtime::RunOptions options(const Plan& plan, const std::string& name) {
  return test::run_options(plan, tmp_dir(), name, kSteps, /*eval_iters=*/0, /*timeout_s=*/60);
}

nlohmann::json run(const runtime::RunOptions& o) { return test::run_here(o); }

const nlohmann::json& cached_run(const std::string& name, const Plan& plan) {
  return test::cached_run(options(plan, name));
}

// Loss of every step within 1e-5 relative of the single-process run; returns the worst.
double expect_same_losses(const nlohmann::json& a, const nlohmann::json& ref) {
  EXPECT_EQ(a["loss"].size(), size_t(kSteps));
  EXPECT_EQ(ref["loss"].size(), size_t(kSteps));
  double worst = 0;
  for (size_t i = 0; i < std::min(a["loss"].size(), ref["loss"].size()); ++i) {
    double x = a["loss"][i].get<double>(), y = ref["loss"][i].get<double>();
    EXPECT_NEAR(x, y, 1e-5 * std::abs(y)) << "step " << i;
    worst = std::max(worst, std::abs(x - y) / std::abs(y));
  }
  // The runs learn: the last loss is below the first (ln 65 = 4.17 at the uniform start).
  EXPECT_LT(ref["loss"][kSteps - 1].get<double>(), ref["loss"][0].get<double>() - 0.3);
  return worst;
}

}  // namespace

struct DimCase {
  const char* name;
  Dims d;
  bool moe = false;
  Arch arch = Arch::Gpt;
};
void PrintTo(const DimCase& c, std::ostream* os) { *os << c.name; }
class ParallelDimMatchesSingleProcess : public ::testing::TestWithParam<DimCase> {};

TEST_P(ParallelDimMatchesSingleProcess, LossOfTenStepsWithin1e5Relative) {
  const auto& c = GetParam();
  const std::string single = std::string(c.arch == Arch::Llama ? "llama_" : "") + (c.moe ? "moe_single" : "single");
  const auto& ref = cached_run(single, tiny_plan(layout({}), c.moe, c.arch));
  const auto& m = cached_run(c.name, tiny_plan(layout(c.d), c.moe, c.arch));
  EXPECT_EQ(m["nproc"].get<int>(), c.d.dp * c.d.tp * c.d.pp * c.d.cp);
  double worst = expect_same_losses(m, ref);
  std::printf("[ %s ] worst relative loss difference over %ld steps: %.2e (final loss %.6f vs %.6f)\n",
              c.name, long(kSteps), worst, m["loss"][kSteps - 1].get<double>(),
              ref["loss"][kSteps - 1].get<double>());
}

const DimCase kCases[] = {
    {"tp2_sp", {.tp = 2, .sp = true}},
    {"pp2_interleaved_v2", {.pp = 2, .v = 2}},
    {"cp2", {.cp = 2}},
    {"cp2_tp2_sp", {.tp = 2, .cp = 2, .sp = true}},
    {"ep2_dp2", {.dp = 2, .ep = 2}, true},
    {"tp2_pp2_dp2_sp", {.dp = 2, .tp = 2, .pp = 2, .sp = true}},
    // With ZeRO: one optimizer per chunk (interleaved) and per kind (experts), each on its group.
    {"pp2_v2_dp2_zero3", {.dp = 2, .pp = 2, .v = 2, .zero = 3}},
    {"ep2_dp2_zero2", {.dp = 2, .ep = 2, .zero = 2}, true},
    {"ep2_dp2_tp2", {.dp = 2, .tp = 2, .ep = 2}, true},  // experts replicated over TP (etp 1)
    // The Llama-family model, a case per dimension.
    {"llama_dp2", {.dp = 2}, false, Arch::Llama},
    {"llama_tp2_sp", {.tp = 2, .sp = true}, false, Arch::Llama},
    {"llama_tp4_kv_replicated", {.tp = 4}, false, Arch::Llama},  // 2 KV heads on 4 ranks
    {"llama_pp2_1f1b", {.pp = 2}, false, Arch::Llama},
    {"llama_pp2_interleaved_v2", {.pp = 2, .v = 2}, false, Arch::Llama},
    {"llama_cp2", {.cp = 2}, false, Arch::Llama},
    // 3 ring steps: a received K/V block is sent on while the next block is computed.
    {"llama_cp4", {.cp = 4}, false, Arch::Llama},
    {"llama_ep2_dp2", {.dp = 2, .ep = 2}, true, Arch::Llama},
    {"llama_dp2_zero1", {.dp = 2, .zero = 1}, false, Arch::Llama},
    {"llama_dp2_zero2", {.dp = 2, .zero = 2}, false, Arch::Llama},
    {"llama_dp2_zero3", {.dp = 2, .zero = 3}, false, Arch::Llama},
    {"llama_tp2_pp2_dp2_sp", {.dp = 2, .tp = 2, .pp = 2, .sp = true}, false, Arch::Llama},
    // Zero-bubble schedules: the backward split into input (B) and weight (W) gradients.
    {"llama_pp2_zbh1", {.pp = 2, .s = Schedule::ZbH1}, false, Arch::Llama},
    {"llama_pp2_dualpipev", {.pp = 2, .s = Schedule::DualPipeV}, false, Arch::Llama},
    {"pp2_dp2_zbh1_zero1", {.dp = 2, .pp = 2, .zero = 1, .s = Schedule::ZbH1}},
    {"llama_tp2_pp2_sp_dualpipev", {.tp = 2, .pp = 2, .sp = true, .s = Schedule::DualPipeV}, false, Arch::Llama},
    {"pp2_dualpipev_moe", {.pp = 2, .s = Schedule::DualPipeV}, true},
};
INSTANTIATE_TEST_SUITE_P(Dims, ParallelDimMatchesSingleProcess, ::testing::ValuesIn(kCases),
                         [](const auto& info) { return std::string(info.param.name); });

// The Llama blocks are what they claim: the same losses as the GPT would be a model that ignores
// its architecture fields.
TEST(LlamaModel, TrainsDifferentlyFromTheGptAndLearns) {
  const auto& llama = cached_run("llama_single", tiny_plan(layout({}), false, Arch::Llama));
  const auto& gpt = cached_run("single", tiny_plan(layout({})));
  ASSERT_EQ(llama["loss"].size(), size_t(kSteps));
  EXPECT_GT(std::abs(llama["loss"][0].get<double>() - gpt["loss"][0].get<double>()), 1e-4);
  EXPECT_LT(llama["loss"][kSteps - 1].get<double>(), llama["loss"][0].get<double>() - 0.3);
  // Untied head, no position table, 2 KV heads, 3 FFN matrices, RMSNorm without bias, no biases:
  // embeddings 2 * 65 * 32, per layer q 32*32 + k, v 2 * 16*32 + o 32*32 + 3 * 32*96 + 2 * 32,
  // final norm 32.
  const double params = 2 * 65 * 32 + 4 * (32 * 32 + 2 * 16 * 32 + 32 * 32 + 3 * 32 * 96 + 2 * 32) + 32;
  EXPECT_DOUBLE_EQ(llama["model_state_bytes_computed"][0]["params"].get<double>(), 4 * params);
}

// A Hugging Face config.json (Llama 3 style: GQA 8 of 32 heads, llama3 rope scaling, theta 5e5)
// scaled down with --layers / --hidden / --vocab runs, and tp 2 x dp 2 matches one process.
TEST(LlamaModel, HuggingFaceConfigScaledDownRunsAndMatchesOneProcess) {
  auto hf = nlohmann::json::parse(R"({"architectures": ["LlamaForCausalLM"], "model_type": "llama",
    "hidden_size": 4096, "intermediate_size": 14336, "num_attention_heads": 32,
    "num_hidden_layers": 32, "num_key_value_heads": 8, "vocab_size": 128256,
    "max_position_embeddings": 131072, "rope_theta": 500000.0, "tie_word_embeddings": false,
    "hidden_act": "silu", "rms_norm_eps": 1e-05, "attention_bias": false, "mlp_bias": false,
    "rope_scaling": {"factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
                     "original_max_position_embeddings": 8192, "rope_type": "llama3"}})");
  Diagnostics d;
  Plan p = tiny_plan(layout({}));
  p.model = model_from_json(hf, d);
  ASSERT_TRUE(d.errors.empty()) << d.errors.front();
  ASSERT_EQ(p.model.kv_heads, 8);
  ASSERT_EQ(p.model.rope_scaling, "llama3");
  auto scaled = [&](Dims dims, const std::string& name) {
    Plan q = p;
    q.layout = layout(dims);
    auto o = options(q, name);
    o.layers = 2, o.hidden = 64, o.vocab = 65;
    return run(o);
  };
  auto one = scaled({}, "hf_single");
  auto par = scaled({.dp = 2, .tp = 2}, "hf_tp2_dp2");
  EXPECT_EQ(one["plan"]["model"]["hidden"].get<int>(), 64);
  EXPECT_EQ(one["plan"]["model"]["ffn_hidden"].get<int>(), 224);  // 14336 * 64 / 4096
  EXPECT_EQ(one["plan"]["model"]["layers"].get<int>(), 2);
  expect_same_losses(par, one);
}

TEST(ParallelDims, WhatTheRuntimeCannotRunIsRefusedNamingTheField) {
  auto refused = [](Plan p, int nproc, const std::string& needle) {
    auto o = options(p, "refused");
    o.nproc = nproc;
    try {
      run(o);
      ADD_FAILURE() << "expected a refusal naming " << needle;
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
    }
  };
  auto ulysses = tiny_plan(layout({.cp = 2}));
  ulysses.layout.cp_kind = CpKind::Ulysses;
  refused(ulysses, 2, "layout.cp_kind ulysses");
  auto fp8 = tiny_plan(layout({}));
  fp8.training.dtype = DType::FP8;
  refused(fp8, 1, "train.dtype fp8");
  auto tiles = tiny_plan(layout({}));
  tiles.layout.tiles = 2;
  refused(tiles, 1, "layout.tiles");
  refused(tiny_plan(layout({.dp = 2, .ep = 2})), 2, "layout.ep");  // a dense model
  auto odd_mb = tiny_plan(layout({.pp = 2, .v = 2}));
  odd_mb.training.global_batch = 6;  // 3 micro-batches over 2 stages
  refused(odd_mb, 2, "micro-batches");
  auto yarn = tiny_plan(layout({}), false, Arch::Llama);
  yarn.model.rope_scaling = "yarn";
  yarn.model.rope_scaling_factor = 4;
  refused(yarn, 1, "model.rope_scaling yarn");
  auto qk = tiny_plan(layout({}), false, Arch::Llama);
  qk.model.qk_norm = true;
  refused(qk, 1, "model.qk_norm");
  // The split backward runs with ZeRO 0 or 1; ZB-V and DualPipe are priced, not run.
  refused(tiny_plan(layout({.dp = 2, .pp = 2, .zero = 2, .s = Schedule::ZbH1})), 4, "layout.zero 2");
  refused(tiny_plan(layout({.pp = 2, .s = Schedule::ZbV})), 2, "layout.schedule zb-v");
}
