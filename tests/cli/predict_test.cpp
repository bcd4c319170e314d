// `parplan predict` and the bad-input contract of every input option: one clear message naming
// the field and the fix, exit code 2, never a crash or a hang.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "run_cli.hpp"

namespace {
const std::string kLayout = R"({"dp": 16, "tp": 8, "pp": 8, "zero": 1, "recompute": "selective", "sequence_parallel": true})";

void expect_clear_error(const std::string& args, const std::string& needle) {
  CliResult r = run_cli(args);
  EXPECT_EQ(r.code, 2) << args << "\n" << r.out;
  EXPECT_NE(r.out.find(needle), std::string::npos) << args << "\n" << r.out;
  EXPECT_EQ(r.out.find("terminate"), std::string::npos) << r.out;
}
}  // namespace

TEST(CliPredict, JsonHasEveryDesignField) {
  CliResult r = run_cli("predict --model gpt3-175b --cluster dgx-a100-80g --train gpt3-1536 --layout " +
                            shell_quote(kLayout) + " --json",
                        true);
  ASSERT_EQ(r.code, 0) << r.out;
  auto j = nlohmann::json::parse(r.out);
  for (auto k : {"step_time_s", "tokens_per_s", "model_tflops_per_gpu", "hardware_tflops_per_gpu",
                 "mfu", "hfu", "fits"})
    EXPECT_TRUE(j.contains(k)) << k;
  for (auto k : {"params", "grads", "optimizer", "activations", "buffers", "total"})
    EXPECT_TRUE(j["memory_per_gpu_bytes"].contains(k)) << k;
  for (auto k : {"compute", "tp_comm", "cp_comm", "pp_comm", "pp_bubble", "dp_comm_exposed"})
    EXPECT_TRUE(j["time_s"].contains(k)) << k;
  EXPECT_GT(j["step_time_s"].get<double>(), 0);
  EXPECT_TRUE(j["fits"].get<bool>());
}

TEST(CliPredict, TablePrintsStepTimeAndMemory) {
  CliResult r = run_cli("predict --model gpt3-175b --layout " + shell_quote(kLayout));
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("step time"), std::string::npos);
  EXPECT_NE(r.out.find("GiB"), std::string::npos);
  EXPECT_NE(r.out.find("MFU"), std::string::npos);
}

TEST(CliPredict, AcceptsAHuggingFaceConfig) {
  const std::string hf = R"({"model_type": "gpt2", "n_embd": 768, "n_head": 12, "n_layer": 12, "n_positions": 1024, "vocab_size": 50257})";
  CliResult r = run_cli("predict --model " + shell_quote(hf) + " --train gpt2-512 --cluster dgx-a100-80g --gpus 8 --layout " +
                            shell_quote(R"({"dp": 8, "micro_batch": 8})") + " --json",
                        true);
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_GT(nlohmann::json::parse(r.out)["tokens_per_s"].get<double>(), 0);
}

TEST(CliBadInput, MalformedJson) {
  expect_clear_error("predict --model '{\"layers\": 2,,}' --layout " + shell_quote(kLayout), "malformed JSON");
}

TEST(CliBadInput, MissingFile) {
  expect_clear_error("predict --model /no/such/model.json --layout " + shell_quote(kLayout), "no such file");
}

TEST(CliBadInput, ZeroGpus) {
  const std::string c = R"({"nodes": 1, "gpus_per_node": 0, "gpu": {"memory_GiB": 80, "memory_GBps": 2000, "peak_tflops": {"bf16": 312}}, "intra_node": {"bandwidth_GBps": 300}})";
  expect_clear_error("predict --model gpt3-175b --cluster " + shell_quote(c) + " --layout '{}'", "cluster.gpus_per_node");
}

TEST(CliBadInput, ZeroGpusRequested) {
  expect_clear_error("plan --model gpt2-124m --train gpt2-512 --gpus 0", "--gpus must be >= 1");
}

TEST(CliBadInput, HeadsNotDivisibleByTp) {
  expect_clear_error("predict --model gpt3-175b --layout '{\"dp\": 16, \"tp\": 5, \"pp\": 8}'", "layout.tp");
}

TEST(CliBadInput, MoreGpusThanTheCluster) {
  expect_clear_error("predict --model gpt3-175b --cluster polaris --layout '{\"dp\": 4096, \"tp\": 8, \"pp\": 8}'", "cluster has");
  expect_clear_error("predict --model gpt3-175b --gpus 100000 --layout " + shell_quote(kLayout), "exceeds the cluster");
}

TEST(CliBadInput, AbsurdLayerCount) {
  expect_clear_error("predict --model '{\"layers\": 1e30, \"hidden\": 64, \"heads\": 4, \"vocab\": 10}' --layout '{}'",
                     "model.layers");
}

TEST(CliBadInput, EmptyModel) { expect_clear_error("predict --model '{}' --layout '{}'", "model.hidden"); }

TEST(CliBadInput, NegativeSize) {
  expect_clear_error("predict --model gpt3-175b --train '{\"global_batch\": -4, \"seq_len\": 2048}' --layout '{}'", "train.global_batch");
}

TEST(CliBadInput, UnknownKeyIsAWarningNotAnError) {
  CliResult r = run_cli("predict --model gpt3-175b --train '{\"global_batch\": 1536, \"seq_len\": 2048, \"sequence\": 1}' --layout " +
                        shell_quote(kLayout));
  EXPECT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("warning: train.sequence: unknown key"), std::string::npos) << r.out;
}

TEST(CliValidate, PrintsTheKorthikantiTable) {
  CliResult r = run_cli(std::string("validate --published ") + PARPLAN_SHARED_DIR +
                        "/data/published/korthikanti2022.json --json", true);
  ASSERT_EQ(r.code, 0) << r.out;
  auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["iterations"].size(), 8u);
  // The shipped A100 efficiencies are the all-source fit: 7.0% (2.6% fitted on Korthikanti alone).
  EXPECT_LE(j["iteration_mape"].get<double>(), 0.08);
}
