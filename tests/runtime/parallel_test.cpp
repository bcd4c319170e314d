// The parallel dimensions beyond DP/TP/PP/ZeRO (run_test.cpp): sequence parallelism, the
// interleaved schedule, context parallelism (ring attention) and expert parallelism (MoE), each
// and TP x PP x DP x SP on 8 ranks. Every layout must reproduce the single-process loss of 10
// steps within 1e-5 relative (fp32, Gloo on the CPU; tiny models so a run takes seconds).
#include <cstdlib>
#include <filesystem>
#include <map>

#include <gtest/gtest.h>

#include "parplan/model/error.hpp"
#include "parplan/model/io.hpp"
#include "parplan/runtime/run.hpp"

using namespace parplan;
namespace fs = std::filesystem;

namespace {

const std::string kData = std::string(PARPLAN_SHARED_DIR) + "/data/tinyshakespeare/input.txt";
constexpr int64_t kSteps = 10;

fs::path tmp_dir() {
  auto d = fs::temp_directory_path() / ("parplan_par_" + std::to_string(::getpid()));
  fs::create_directories(d);
  return d;
}

// The examples' shakespeare-moe (4 layers, the last 3 MoE) or its dense twin; 4 layers so that
// pp 2 x 2 virtual stages has one block per chunk; seq 32 = 2 * cp * tp * 4.
Plan tiny_plan(Layout l, bool moe = false) {
  Plan p;
  p.model = moe ? load_model("shakespeare-moe") : Model{};
  if (!moe) {
    p.model.name = "tiny-char-4l";
    p.model.layers = 4;
    p.model.hidden = 32;
    p.model.heads = 4;
    p.model.kv_heads = 4;
    p.model.ffn_hidden = 128;
    p.model.vocab = 65;
    p.model.max_seq_len = 32;
  }
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
};

Layout layout(Dims d) {
  Layout l;
  l.dp = d.dp, l.tp = d.tp, l.pp = d.pp, l.cp = d.cp, l.ep = d.ep;
  l.micro_batch = 2;
  l.zero = d.zero;
  l.sequence_parallel = d.sp;
  l.schedule = d.v > 1 ? Schedule::Interleaved : Schedule::OneFOneB;
  l.virtual_stages = d.v;
  l.recompute = Recompute::None;
  return l;
}

runtime::RunOptions options(const Plan& plan, const std::string& name) {
  auto dir = tmp_dir();
  auto plan_path = (dir / (name + ".plan.json")).string();
  write_file_atomic(plan_path, to_json(plan).dump());
  runtime::RunOptions o;
  o.plan = plan_path;
  o.data = kData;
  o.out = (dir / (name + ".measured.json")).string();
  o.steps = kSteps;
  o.eval_iters = 0;
  o.timeout_s = 60;
  o.quiet = true;
  o.threads = 1;
  return o;
}

nlohmann::json run(const runtime::RunOptions& o) { return runtime::run(o, "/proc/self/exe", {"worker"}); }

const nlohmann::json& cached_run(const std::string& name, const Plan& plan) {
  static std::map<std::string, nlohmann::json> cache;
  auto it = cache.find(name);
  if (it == cache.end()) it = cache.emplace(name, run(options(plan, name))).first;
  return it->second;
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
};
void PrintTo(const DimCase& c, std::ostream* os) { *os << c.name; }
class ParallelDimMatchesSingleProcess : public ::testing::TestWithParam<DimCase> {};

TEST_P(ParallelDimMatchesSingleProcess, LossOfTenStepsWithin1e5Relative) {
  const auto& c = GetParam();
  const auto& ref = cached_run(c.moe ? "moe_single" : "single", tiny_plan(layout({}), c.moe));
  const auto& m = cached_run(c.name, tiny_plan(layout(c.d), c.moe));
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
};
INSTANTIATE_TEST_SUITE_P(Dims, ParallelDimMatchesSingleProcess, ::testing::ValuesIn(kCases),
                         [](const auto& info) { return std::string(info.param.name); });

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
}
