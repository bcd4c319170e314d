// The log readers of `parplan import` on excerpts in the frameworks' exact formats
// (tests/data/logs/README.md names the commits), and the refusals.
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <functional>
#include <sstream>

#include "parplan/cost/import.hpp"
#include "parplan/model/io.hpp"

using namespace parplan;
using namespace parplan::cost;

namespace {
std::string logfile(const std::string& name) {
  std::ifstream in(std::string(PARPLAN_SOURCE_DIR) + "/tests/data/logs/" + name);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}
ImportOptions options(const std::string& log) {
  ImportOptions o;
  o.id = "run";
  o.log_name = log;
  o.cluster_spec = "dgx-h100-80g";
  o.cluster = load_cluster("dgx-h100-80g");
  return o;
}
std::string refusal(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "(no error)";
}
}  // namespace

TEST(ImportMegatron, ReadsTheArgumentsBlockAndTheMedianOfTheSteadySteps) {
  const std::string log = logfile("megatron-llama3-8b-tp2.log");
  EXPECT_EQ(detect_log_format(log), "megatron");
  const ImportedRun r = import_megatron(log, options("megatron-llama3-8b-tp2.log"));
  EXPECT_EQ(r.layout.dp, 4);
  EXPECT_EQ(r.layout.tp, 2);
  EXPECT_EQ(r.layout.pp, 1);
  EXPECT_EQ(r.layout.zero, 1);  // use_distributed_optimizer
  EXPECT_TRUE(r.layout.sequence_parallel);
  EXPECT_EQ(r.layout.recompute, Recompute::None);
  EXPECT_EQ(r.training.global_batch, 128);
  EXPECT_EQ(r.training.seq_len, 8192);
  EXPECT_EQ(r.training.dtype, DType::BF16);
  EXPECT_EQ(r.training.overlap_grad_reduce, Switch::On);
  EXPECT_EQ(r.model.layers, 32);
  EXPECT_EQ(r.model.hidden, 4096);
  EXPECT_EQ(r.model.kv_heads, 8);
  EXPECT_EQ(r.model.ffn_hidden, 14336);
  EXPECT_EQ(r.model.vocab, 128256);  // from the ' > padded vocab' line
  EXPECT_TRUE(r.model.gated_mlp);
  EXPECT_FALSE(r.model.tied_embeddings);
  // Ten logged intervals; the first two (a fifth) dropped; the median of the other eight.
  ASSERT_EQ(r.steps.size(), 10u);
  EXPECT_EQ(r.dropped, 2u);
  EXPECT_EQ(r.figure, Figure::StepTime);
  EXPECT_NEAR(r.measured, 17.3731, 1e-9);  // (17316.7 + 17429.5) / 2 ms, of iterations 30-100
  EXPECT_NEAR(r.spread_lo, 17.2572, 1e-9);
  EXPECT_NEAR(r.spread_hi, 17.5792, 1e-9);
  EXPECT_NEAR(r.memory_GiB, 58712.44 / 1024, 1e-9);
}

TEST(ImportMegatron, RefusesTruncatedConfiglessMixedAndInconsistentLogs) {
  auto run = [](const std::string& f) {
    return refusal([&] { import_megatron(logfile(f), options(f)); });
  };
  EXPECT_NE(run("megatron-truncated.log").find("is cut off: the log is truncated"), std::string::npos);
  EXPECT_NE(run("megatron-no-config.log").find("no arguments block"), std::string::npos);
  EXPECT_NE(run("megatron-mixed.log").find("two runs in one log"), std::string::npos);
  const std::string w = run("megatron-world-size.log");
  EXPECT_NE(w.find("the world size is 16 but the layout"), std::string::npos) << w;
  EXPECT_NE(w.find("= 8 GPUs"), std::string::npos) << w;
}

TEST(ImportMegatron, ALogThatStopsEarlyNeedsAllowPartial) {
  // The complete log without its last three intervals and the end-of-training line.
  std::string log = logfile("megatron-llama3-8b-tp2.log");
  log = log.substr(0, log.find(" iteration       80/"));
  log = log.substr(0, log.rfind('\n') + 1);
  ImportOptions o = options("early.log");
  const std::string e = refusal([&] { import_megatron(log, o); });
  EXPECT_NE(e.find("ends at iteration 70 of 100"), std::string::npos) << e;
  EXPECT_NE(e.find("--allow-partial"), std::string::npos);
  o.allow_partial = true;
  EXPECT_EQ(import_megatron(log, o).steps.size(), 7u);
}

TEST(ImportMegatron, WhatTheLogCannotTellNamesTheOption) {
  ImportOptions o = options("megatron-llama3-8b-tp2.log");
  o.cluster.reset();
  EXPECT_NE(refusal([&] { import_megatron(logfile("megatron-llama3-8b-tp2.log"), o); }).find("pass --cluster"),
            std::string::npos);
  // Without the tokenizer's padded-vocab line the vocabulary is unknown.
  std::string log = logfile("megatron-llama3-8b-tp2.log");
  const size_t p = log.find(" > padded vocab");
  log.erase(p, log.find('\n', p) - p + 1);
  EXPECT_NE(refusal([&] { import_megatron(log, options("x.log")); }).find("pass --model"), std::string::npos);
  o = options("x.log");
  o.model = load_model("llama3-8b");
  EXPECT_EQ(import_megatron(log, o).model.vocab, o.model->vocab);
}

TEST(ImportTorchtitan, ReadsTheMeshTheModelArgsAndTheToml) {
  ImportOptions o = options("torchtitan-llama3-8b.log");
  o.config_text = logfile("torchtitan-llama3-8b.toml");
  o.config_name = "torchtitan-llama3-8b.toml";
  const std::string log = logfile("torchtitan-llama3-8b.log");
  EXPECT_EQ(detect_log_format(log), "torchtitan");
  const ImportedRun r = import_torchtitan(log, o);
  EXPECT_EQ(r.layout.dp, 8);
  EXPECT_EQ(r.layout.zero, 3);
  EXPECT_EQ(r.layout.tp, 1);
  EXPECT_EQ(r.layout.recompute, Recompute::Selective);
  EXPECT_EQ(r.layout.micro_batch, 1);
  EXPECT_EQ(r.training.framework, "fsdp2");
  EXPECT_EQ(r.training.global_batch, 8);
  EXPECT_EQ(r.training.compile, Switch::Off);
  EXPECT_EQ(r.model.ffn_hidden, 14336);  // 1.3 x 2/3 x 4 x 4096 rounded up to 1024
  EXPECT_EQ(r.model.vocab, 128256);
  ASSERT_EQ(r.steps.size(), 11u);  // step 1 and every 10th
  EXPECT_EQ(r.figure, Figure::TokensPerGpu);
  EXPECT_EQ(r.dropped, 2u);
  EXPECT_DOUBLE_EQ(r.measured, 7461);  // "tps: 7,461": the thousands separator read
  EXPECT_NEAR(r.memory_GiB, 50.01, 1e-9);
}

TEST(ImportTorchtitan, NeedsItsTomlAndRefusesOneThatDisagreesWithTheMesh) {
  const std::string log = logfile("torchtitan-llama3-8b.log");
  ImportOptions o = options("torchtitan-llama3-8b.log");
  EXPECT_NE(refusal([&] { import_torchtitan(log, o); }).find("pass --config"), std::string::npos);
  o.config_text = logfile("torchtitan-llama3-8b.toml");
  const size_t p = o.config_text.find("tensor_parallel_degree = 1");
  o.config_text.replace(p, 26, "tensor_parallel_degree = 2");
  const std::string e = refusal([&] { import_torchtitan(log, o); });
  EXPECT_NE(e.find("tensor_parallel_degree = 2 but the log's device mesh has 1"), std::string::npos) << e;
  // An array over several lines is TOML too: float8 named in model.converters makes the run FP8.
  o.config_text = logfile("torchtitan-llama3-8b.toml");
  o.config_text.replace(o.config_text.find("[model]"), 7, "[model]\nconverters = [\n  \"quantize.linear.float8\",\n]");
  EXPECT_EQ(import_torchtitan(log, o).training.dtype, DType::FP8);
  // Two runs concatenated.
  o.config_text = logfile("torchtitan-llama3-8b.toml");
  EXPECT_NE(refusal([&] { import_torchtitan(log + log, o); }).find("two runs in one log"), std::string::npos);
}

TEST(ImportDeepSpeed, ReadsTheEngineConfigurationAndNeedsModelAndSequence) {
  const std::string log = logfile("deepspeed-llama2-7b-zero3.log");
  EXPECT_EQ(detect_log_format(log), "deepspeed");
  ImportOptions o = options("deepspeed-llama2-7b-zero3.log");
  EXPECT_NE(refusal([&] { import_deepspeed(log, o); }).find("pass --model"), std::string::npos);
  o.model = load_model("llama2-7b");
  EXPECT_NE(refusal([&] { import_deepspeed(log, o); }).find("pass --seq-len"), std::string::npos);
  o.seq_len = 4096;
  const ImportedRun r = import_deepspeed(log, o);
  EXPECT_EQ(r.world_size, 8);
  EXPECT_EQ(r.layout.dp, 8);
  EXPECT_EQ(r.layout.zero, 3);
  EXPECT_EQ(r.layout.micro_batch, 2);
  EXPECT_EQ(r.training.global_batch, 64);
  EXPECT_EQ(r.training.dtype, DType::BF16);
  ASSERT_EQ(r.steps.size(), 10u);
  // Step time = train_batch_size / CurrSamplesPerSec, median of steps 30..100.
  EXPECT_NEAR(r.measured, 5.25564958259, 1e-8);
  EXPECT_NEAR(r.memory_GiB, 61.37, 1e-9);
  // A ds_config whose batch does not divide over the world size is refused.
  o.config_text = R"({"train_batch_size": 96, "train_micro_batch_size_per_gpu": 2,
                      "gradient_accumulation_steps": 4, "bf16": {"enabled": true}})";
  o.config_name = "other.json";
  EXPECT_NE(refusal([&] { import_deepspeed(log, o); }).find("the log and its configuration disagree"),
            std::string::npos);
}

TEST(ImportParplanRun, TakesThePlanAndTheMedianStepTime) {
  MeasuredRun m;
  m.has_plan = true;
  m.plan.model = load_model("gpt2-124m");
  m.plan.cluster = load_cluster("dgx-a100-80g");
  m.plan.training = load_training(R"({"global_batch": 64, "seq_len": 1024})");
  m.plan.layout = load_layout(R"({"dp": 8, "micro_batch": 8})");
  m.step_time_s = 0.3;
  ImportOptions o;
  o.id = "own";
  o.log_name = "measured.json";
  const ImportedRun r = import_parplan_run(m, {0.31, 0.29, 0.30, 0.50, 0.30}, o);
  EXPECT_DOUBLE_EQ(r.measured, 0.30);  // median: the 0.50 outlier does not move it
  EXPECT_DOUBLE_EQ(r.spread_hi, 0.50);
  EXPECT_EQ(r.cluster.name, m.plan.cluster.name);  // the plan's cluster when none is given
}

TEST(Import, TheCorpusFileReadsBackAsTheSameRun) {
  ImportOptions o = options("megatron-llama3-8b-tp2.log");
  o.id = "mine";
  const ImportedRun r = import_megatron(logfile("megatron-llama3-8b-tp2.log"), o);
  const CorpusSource s = corpus_source_from_json(to_corpus_json(r, o), "mine.json");
  EXPECT_TRUE(s.fit_source);
  ASSERT_EQ(s.runs.size(), 1u);
  const CorpusRun& run = s.runs[0];
  EXPECT_EQ(run.id, "mine");
  EXPECT_EQ(run.layout, r.layout);
  EXPECT_EQ(run.model.ffn_hidden, 14336);
  EXPECT_EQ(run.training.framework_name(), "megatron-core");
  EXPECT_DOUBLE_EQ(run.measured, r.measured);
  EXPECT_DOUBLE_EQ(run.measured_memory_GiB, r.memory_GiB);
  EXPECT_EQ(run.generation(), "hopper");
}

TEST(Import, TooFewStepsAfterTheWarmUpIsRefused) {
  ImportedRun r;
  for (int i = 1; i <= 4; ++i) r.steps.push_back({i, 1.0 * i});
  EXPECT_NE(refusal([&] { summarize_steps(r, 2, "x"); }).find("a median needs 3"), std::string::npos);
  summarize_steps(r, 1, "x");
  EXPECT_DOUBLE_EQ(r.measured, 3.0);
  EXPECT_EQ(r.dropped, 1u);
}
