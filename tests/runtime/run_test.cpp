// End-to-end runs of a small GPT on Tiny Shakespeare (CPU, Gloo, fp32): every layout must follow
// the single-process loss trajectory, measure the memory the cost model predicts, resume
// from checkpoints, and fail clearly when a rank dies or never joins.
#include <cstdlib>
#include <filesystem>
#include <map>

#include <gtest/gtest.h>

#include "parplan/cost/memory.hpp"
#include "parplan/model/error.hpp"
#include "parplan/model/io.hpp"
#include "parplan/runtime/run.hpp"
#include "../support/tiny_plan.hpp"
#include "run_support.hpp"

using namespace parplan;
namespace fs = std::filesystem;

namespace {

fs::path tmp_dir() { return test::process_dir("parplan_rt_"); }

// 2 layers, hidden 64; global batch 8 x 32 tokens.
Plan small_plan(Layout l) {
  return test::char_plan(test::char_gpt("tiny-char", 2, 64, 4, 256, 64), 8, 32, l);
}

Layout layout(int dp, int tp, int pp, int zero = 0, Schedule s = Schedule::OneFOneB) {
  Layout l;
  l.dp = dp, l.tp = tp, l.pp = pp, l.zero = zero, l.micro_batch = 2, l.schedule = s;
  l.recompute = Recompute::None;
  l.sequence_parallel = false;
  return l;
}

runtime::RunOptions options(const Plan& plan, const std::string& name, int64_t steps = 5) {
  return test::run_options(plan, tmp_dir(), name, steps, /*eval_iters=*/1, /*timeout_s=*/30);
}

nlohmann::json run(const runtime::RunOptions& o) { return test::run_here(o); }

// Runs are shared between tests (each costs a few seconds).
const nlohmann::json& cached_run(const std::string& name, const Layout& l) {
  return test::cached_run(options(small_plan(l), name));
}

const nlohmann::json& reference() { return cached_run("single", layout(1, 1, 1)); }

void expect_same_losses(const nlohmann::json& a, const nlohmann::json& b) {
  ASSERT_EQ(a["loss"].size(), b["loss"].size());
  for (size_t i = 0; i < a["loss"].size(); ++i) {
    double x = a["loss"][i].get<double>(), y = b["loss"][i].get<double>();
    EXPECT_NEAR(x, y, 1e-4 * std::abs(y)) << "step " << i;
  }
}

}  // namespace

TEST(Run, SingleProcessTrainsAndWritesMeasuredJsonAndTrace) {
  const auto& m = reference();
  ASSERT_EQ(m["loss"].size(), 5u);
  EXPECT_NEAR(m["loss"][0].get<double>(), std::log(65.0), 0.3);  // uniform start
  EXPECT_LT(m["loss"][4].get<double>(), m["loss"][0].get<double>());
  for (const char* k : {"mean_step_time_s", "tokens_per_s", "mfu", "val_loss", "peak_memory_bytes",
                        "step_times_s", "plan", "tokens_per_s_per_rank"})
    EXPECT_TRUE(m.contains(k)) << k;
  EXPECT_GT(m["mean_step_time_s"].get<double>(), 0);
  auto trace = fs::path(tmp_dir() / "single.measured.trace" / "trace_rank0.json");
  ASSERT_TRUE(fs::exists(trace));
  auto t = parse_json_text(read_file(trace.string()), "trace");
  EXPECT_GT(t["traceEvents"].size(), 4u);
}

TEST(Run, TraceStepMustBeAStepOfTheRun) {
  // --trace-step: the step traced (0-based; -1, the default, is the third after the start).
  runtime::RunOptions o = options(small_plan(layout(1, 1, 1)), "trace_step", 5);
  o.trace_step = 4;
  EXPECT_NO_THROW(runtime::validate_run_options(o));
  o.trace_step = -1;
  EXPECT_NO_THROW(runtime::validate_run_options(o));
  for (int64_t bad : {int64_t(5), int64_t(-2)}) {
    o.trace_step = bad;
    try {
      runtime::validate_run_options(o);
      ADD_FAILURE() << "--trace-step " << bad << " accepted with --steps 5";
    } catch (const std::exception& e) {
      EXPECT_NE(std::string(e.what()).find("--trace-step must be a step before --steps (0 to 4)"),
                std::string::npos) << e.what();
    }
  }
}

struct Case {
  const char* name;
  Layout l;
};
void PrintTo(const Case& c, std::ostream* os) { *os << c.name; }
class LayoutMatchesSingleProcess : public ::testing::TestWithParam<Case> {};

TEST_P(LayoutMatchesSingleProcess, LossAfterFiveStepsWithin1e4Relative) {
  expect_same_losses(cached_run(GetParam().name, GetParam().l), reference());
}

INSTANTIATE_TEST_SUITE_P(
    Layouts, LayoutMatchesSingleProcess,
    ::testing::Values(Case{"dp2", layout(2, 1, 1)}, Case{"tp2", layout(1, 2, 1)},
                      Case{"pp2_1f1b", layout(1, 1, 2)},
                      Case{"pp2_gpipe", layout(1, 1, 2, 0, Schedule::GPipe)},
                      Case{"zero1", layout(2, 1, 1, 1)}, Case{"zero2", layout(2, 1, 1, 2)},
                      Case{"zero3", layout(2, 1, 1, 3)}),
    [](const auto& info) { return std::string(info.param.name); });

// A model of >= 50 MB of fp32 parameters, DP=2: the measured peak of live tensor bytes per rank
// (the counting CPU allocator) falls with the ZeRO stage and is what the cost model predicts.
Plan big_plan(int zero) {
  Plan p = test::char_plan(test::char_gpt("tiny-char", 12, 320, 5, 1280, 64),
                           4, 64, layout(2, 1, 1, zero));  // 2 micro-batches of 1 per DP rank
  p.layout.micro_batch = 1;
  return p;
}

TEST(Run, MeasuredPeakMemoryFallsWithZeroStageAndMatchesTheCostModel) {
  // Parameters by hand: per block 4 h^2 + 4 h (attention) + 2 h f + f + h (MLP) + 4 h (two
  // LayerNorms) = 1,232,960; 12 blocks, wte 65 h, wpe 64 h, head 65 h, ln_f 2 h.
  const double h = 320, f = 1280;
  const double per_block = 4 * h * h + 4 * h + 2 * h * f + f + h + 4 * h;
  const double params = 12 * per_block + 65 * h + 64 * h + 65 * h + 2 * h;
  ASSERT_EQ(per_block, 1232960);
  ASSERT_GE(4 * params, 50e6);
  double measured[4] = {0, 0, 0, 0};
  for (int z = 0; z <= 3; ++z) {
    auto plan = big_plan(z);
    auto o = options(plan, "mem_zero" + std::to_string(z), 3);
    o.eval_iters = 0;
    auto m = run(o);
    EXPECT_EQ(m.value("memory_kind", ""), "cpu_peak_tensor_bytes");
    auto state = m["model_state_bytes_computed"][0];
    double held = state["params"].get<double>() + state["grads"].get<double>() + state["optimizer"].get<double>();
    // ZeRO-z keeps 4 + 4 + 8 bytes per parameter, sharded over dp = 2 from stage 1 on (z >= 1:
    // optimizer, z >= 2: grads, z = 3: params).
    double expect_held = params * ((z == 3 ? 2 : 4) + (z >= 2 ? 2 : 4) + (z >= 1 ? 4 : 8));
    EXPECT_NEAR(held, expect_held, 4.0 * 64) << "zero " << z;  // padding: < dp floats per bucket
    auto pred = cost::memory_per_gpu(plan.model, plan.cluster, plan.training, plan.layout);
    for (auto& peak : m["peak_tensor_bytes"]) {
      double meas = peak.get<double>();
      measured[z] = std::max(measured[z], meas);
      EXPECT_GT(meas, held) << "zero " << z << ": the peak holds at least the model state";
      EXPECT_NEAR(pred.total, meas, 0.2 * meas) << "zero " << z << ": predicted " << pred.total
                                                << " B, measured " << meas << " B";
    }
    EXPECT_GT(m["peak_rss_bytes"][0].get<double>(), 0);
  }
  EXPECT_LE(measured[3], 0.7 * measured[0]) << "ZeRO-3 " << measured[3] << " B vs ZeRO-0 " << measured[0];
  EXPECT_LT(measured[1], measured[0]);
  EXPECT_LT(measured[2], measured[1]);
  EXPECT_LT(measured[3], measured[2]);
}

// The Llama-style layer (RMSNorm, SwiGLU, rotary, GQA) as the runtime runs it keeps more than
// Megatron's fused layer: the runtime's framework file (examples/frameworks/parplan-runtime.json
// "saved_activations") counts what its eager autograd keeps, and the measured peak follows it.
TEST(Run, LlamaPeakMemoryFollowsTheRuntimeFrameworksSavedActivations) {
  for (int tp : {1, 2}) {
    auto plan = small_plan(layout(1, tp, 1));
    plan.model = load_model("llama-tiny-char");
    plan.model.layers = 4, plan.model.hidden = 128, plan.model.heads = 4, plan.model.kv_heads = 2;
    plan.model.ffn_hidden = 352, plan.model.max_seq_len = 64;
    plan.training.global_batch = 16, plan.training.seq_len = 64, plan.training.flash_attention = false;
    plan.layout.micro_batch = 4;
    auto m = run(options(plan, "llama_mem_tp" + std::to_string(tp), 2));
    const double meas = m["peak_tensor_bytes"][0].get<double>();
    plan.training.framework = "parplan-runtime";
    const double runtime_count = cost::memory_per_gpu(plan.model, plan.cluster, plan.training, plan.layout).total;
    plan.training.framework = "megatron-core";
    const double fused_count = cost::memory_per_gpu(plan.model, plan.cluster, plan.training, plan.layout).total;
    // Measured 2026-12-07: tp 1 -0.5% (megatron-core's count -12%), tp 2 -6.7% (-19.5%).
    EXPECT_NEAR(runtime_count, meas, 0.1 * meas) << "tp " << tp;
    EXPECT_LT(fused_count, 0.92 * meas) << "tp " << tp << ": the fused layer's count keeps less";
    EXPECT_LT(std::abs(runtime_count - meas), std::abs(fused_count - meas)) << "tp " << tp;
  }
}

// DP gradient buckets are all-reduced while the backward pass is still running: the bucket hooks
// launch them and the one-step trace shows DP communication (track 2) during a backward.
TEST(Run, DpBucketsAreReducedDuringTheBackwardPass) {
  auto plan = small_plan(layout(2, 1, 1));
  plan.model.layers = 4;
  // The hooks launching the buckets is deterministic; whether the comm thread gets a core before
  // the backward ends is not on a 2-core machine running other tests, so the timing part gets up
  // to three runs (a real lack of overlap fails all three).
  bool overlapped = false;
  for (int attempt = 0; attempt < 3 && !overlapped; ++attempt) {
    auto o = options(plan, "overlap", 4);
    o.bucket_mb = 0.02;  // ~5k floats: one bucket per block
    auto m = run(o);
    EXPECT_GT(m["dp_buckets_reduced_during_backward"].get<double>(), 0.5);
    auto trace = parse_json_text(
        read_file((tmp_dir() / "overlap.measured.trace" / "trace_rank0.json").string()), "trace");
    double last_backward_end = 0, first_dp = 1e300;
    for (auto& e : trace["traceEvents"]) {
      if (e.value("ph", "") != "X") continue;
      if (e.value("tid", -1) == 0 && e.value("name", "").rfind("backward", 0) == 0)
        last_backward_end = std::max(last_backward_end, e["ts"].get<double>() + e["dur"].get<double>());
      if (e.value("tid", -1) == 2) first_dp = std::min(first_dp, e["ts"].get<double>());
    }
    overlapped = first_dp < last_backward_end &&
                 m["dp_overlap"][0]["during_backward_s"].get<double>() > 0;
  }
  EXPECT_TRUE(overlapped) << "no DP collective ran during a backward in three runs";
}

// ZeRO-3 with tied embeddings (the head reuses wte: its bucket is reduced after the backward)
// and ZeRO-3 under a pipeline follow their single-process references.
TEST(Run, ZeroThreeWithTiedEmbeddingsAndWithPipelineMatchSingleProcess) {
  auto tied = small_plan(layout(1, 1, 1));
  tied.model.tied_embeddings = true;
  auto ref = run(options(tied, "tied_single"));
  auto z3 = tied;
  z3.layout = layout(2, 1, 1, 3);
  expect_same_losses(run(options(z3, "tied_zero3")), ref);
  auto pp = small_plan(layout(2, 1, 2, 3));
  pp.cluster.gpus_per_node = 4;  // 4 ranks on this host
  expect_same_losses(run(options(pp, "zero3_pp2")), reference());
}

// OpenBLAS (when libblas.so.3 is OpenBLAS) with OPENBLAS_CORETYPE set follows the same losses.
TEST(Run, BlasIsReportedAndCoreTypeKeepsTheLosses) {
  const auto& m = reference();
  ASSERT_TRUE(m.contains("blas"));
  if (fs::exists("/usr/lib/x86_64-linux-gnu/openblas-pthread/libblas.so.3") &&
      fs::equivalent("/usr/lib/x86_64-linux-gnu/libblas.so.3",
                     "/usr/lib/x86_64-linux-gnu/openblas-pthread/libblas.so.3")) {
    EXPECT_EQ(m["blas"].value("kind", ""), "openblas") << m["blas"].dump();
  }
  const char* set = std::getenv("OPENBLAS_CORETYPE");
  std::string saved = set ? set : "";
  ::setenv("OPENBLAS_CORETYPE", set ? set : "Haswell", 1);
  auto again = run(options(small_plan(layout(1, 1, 1)), "coretype"));
  if (set) {
    ::setenv("OPENBLAS_CORETYPE", saved.c_str(), 1);
  } else {
    ::unsetenv("OPENBLAS_CORETYPE");
  }
  if (again["blas"].value("kind", "") == "openblas") {
    EXPECT_EQ(again["blas"].value("OPENBLAS_CORETYPE", ""), set ? saved : "Haswell");
  }
  expect_same_losses(again, m);
}

TEST(Run, ResumeAfterSigkillContinuesTheSameLossTrajectory) {
  auto plan = small_plan(layout(2, 1, 1, 1));
  auto full = run(options(plan, "ckpt_full", 6));
  auto o = options(plan, "ckpt_killed", 6);
  o.ckpt_dir = (tmp_dir() / "ckpt").string();
  fs::remove_all(o.ckpt_dir);
  o.ckpt_interval = 2;
  o.timeout_s = 10;
  ::setenv("PARPLAN_FAULT_KILL", "1:4", 1);  // rank 1 SIGKILLs itself in step 4
  try {
    run(o);
    ADD_FAILURE() << "the run should fail";
  } catch (const Error& e) {
    std::string msg = e.what();
    EXPECT_NE(msg.find("rank 1: killed by signal 9"), std::string::npos) << msg;
    EXPECT_NE(msg.find("\n  rank 0: "), std::string::npos) << msg;  // names rank, op, group
    EXPECT_NE(msg.find("on group"), std::string::npos) << msg;
  }
  ::unsetenv("PARPLAN_FAULT_KILL");
  EXPECT_EQ(read_file(o.ckpt_dir + "/latest"), "4\n");
  for (auto& f : fs::recursive_directory_iterator(o.ckpt_dir))
    EXPECT_NE(f.path().extension(), ".tmp") << "checkpoint left a temp file";
  o.resume = true;
  auto resumed = run(o);
  EXPECT_EQ(resumed["first_step"], 4);
  ASSERT_EQ(resumed["loss"].size(), 2u);
  for (size_t i = 0; i < 2; ++i)
    EXPECT_NEAR(resumed["loss"][i].get<double>(), full["loss"][4 + i].get<double>(), 1e-6);
}

// Issue 21 item 15: a rendezvous timeout is an environment failure (exit 3, docs/errors.md), not
// bad input (it was exit 2).
TEST(Run, ARankThatNeverJoinsIsATimeoutErrorNamingTheOperation) {
  auto o = options(small_plan(layout(2, 1, 1)), "hang", 2);
  o.timeout_s = 3;
  ::setenv("PARPLAN_FAULT_HANG", "1", 1);
  try {
    run(o);
    ADD_FAILURE() << "the run should fail";
  } catch (const EnvironmentError& e) {
    std::string msg = e.what();
    EXPECT_NE(msg.find("rank 0: creating the process group on group 'world'"), std::string::npos) << msg;
  } catch (const Error& e) {
    ADD_FAILURE() << "a rank that never joins is an environment failure (exit 3): " << e.what();
  }
  ::unsetenv("PARPLAN_FAULT_HANG");
}

TEST(Run, BadInputsAreClearErrors) {
  auto o = options(small_plan(layout(2, 1, 1)), "bad", 2);
  auto missing_plan = o;
  missing_plan.plan = "/nonexistent/plan.json";
  EXPECT_THROW(run(missing_plan), Error);
  auto missing_data = o;
  missing_data.data = "/nonexistent/input.txt";
  EXPECT_THROW(run(missing_data), Error);
  auto wrong_nproc = o;
  wrong_nproc.nproc = 3;
  try {
    run(wrong_nproc);
    ADD_FAILURE();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("--nproc 3 does not match the plan's 2 GPUs"), std::string::npos)
        << e.what();
  }
  auto tied = small_plan(layout(1, 1, 2));
  tied.model.tied_embeddings = true;
  EXPECT_THROW(run(options(tied, "tied_pp")), Error);
}

// Without a CUDA LibTorch or a GPU, --backend nccl is a clear error (auto falls back to Gloo on
// the CPU); where NCCL works, the run is on cuda:LOCAL_RANK and reports the allocator's peak.
TEST(Run, BackendNcclIsAClearErrorWithoutCudaAndRunsOnTheGpuWithIt) {
  EXPECT_EQ(reference().value("device", ""), "cpu");
  EXPECT_EQ(reference().value("backend", ""), "gloo");
  auto o = options(small_plan(layout(2, 1, 1)), "nccl", 2);
  o.backend = "nccl";
  try {
    auto m = run(o);
    EXPECT_EQ(m.value("backend", ""), "nccl");
    EXPECT_EQ(m.value("device", "").rfind("cuda:", 0), 0u) << m.value("device", "");
    EXPECT_EQ(m.value("memory_kind", ""), "cuda_peak_allocated");
    EXPECT_GT(m["peak_memory_bytes"][0].get<double>(),
              m["model_state_bytes_computed"][0]["params"].get<double>());
  } catch (const Error& e) {
    std::string msg = e.what();
    EXPECT_NE(msg.find("--backend nccl: "), std::string::npos) << msg;
    EXPECT_TRUE(msg.find("no CUDA") != std::string::npos || msg.find("GPU") != std::string::npos) << msg;
  }
}
