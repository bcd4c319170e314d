// No silent defaults: --model and (for plan/explain) --gpus are required, the layout must use the
// GPUs asked for, a layout that does not fit exits 4 with its table, every assumption the
// prediction used is listed; and the planning binary dispatches run/simulate to its siblings
// without loading LibTorch, SimGrid or Qt itself.
#include <gtest/gtest.h>

#include <unistd.h>

#include <filesystem>
#include <nlohmann/json.hpp>

#include "run_cli.hpp"

namespace {
const std::string kLayout =
    R"({"dp": 16, "tp": 8, "pp": 8, "zero": 1, "recompute": "selective", "sequence_parallel": true})";
bool has(const std::string& s, const std::string& w) { return s.find(w) != std::string::npos; }
}  // namespace

TEST(CliDefaults, ModelIsRequired) {
  auto r = run_cli("predict --layout " + shell_quote(kLayout));
  EXPECT_EQ(r.code, 2) << r.out;
  EXPECT_TRUE(has(r.out, "--model is required")) << r.out;
  EXPECT_TRUE(has(r.out, "llama3-70b")) << r.out;  // names the presets
}

TEST(CliDefaults, PlanAndExplainNeedGpusUnlessTheClusterSaysHowMany) {
  for (const char* cmd : {"plan", "explain"}) {
    auto r = run_cli(std::string(cmd) + " --model gpt2-124m --train gpt2-512");
    EXPECT_EQ(r.code, 2) << r.out;
    EXPECT_TRUE(has(r.out, "--gpus is required")) << r.out;
    EXPECT_TRUE(has(r.out, "job_gpus")) << r.out;
  }
  // A cluster file with job_gpus 8: the job gets 8 of its 16 GPUs.
  const std::string c = R"({"name": "two-nodes", "nodes": 2, "gpus_per_node": 8, "job_gpus": 8,
    "gpu": {"memory_GiB": 80, "memory_GBps": 2039, "peak_tflops": {"bf16": 312}},
    "intra_node": {"bandwidth_GBps": 300}, "inter_node": {"nic_GBps": 25, "nics_per_node": 8}})";
  auto r = run_cli("plan --model gpt2-124m --train gpt2-512 --cluster " + shell_quote(c) +
                   " --top 1 --json", true);
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_EQ(nlohmann::json::parse(r.out)["gpus"], 8);
}

TEST(CliDefaults, LayoutMustUseTheGpusAskedFor) {
  auto r = run_cli("predict --model gpt3-175b --gpus 16 --layout " + shell_quote(kLayout));
  EXPECT_EQ(r.code, 2) << r.out;
  EXPECT_TRUE(has(r.out, "--gpus 16 but the layout needs 1024")) << r.out;
  r = run_cli("predict --model gpt3-175b --gpus 1024 --layout " + shell_quote(kLayout));
  EXPECT_EQ(r.code, 0) << r.out;
}

TEST(CliDefaults, ALayoutThatDoesNotFitExits4WithItsTable) {
  // GPT-3 175B with tp 8 alone: 175e9 x 16 bytes / 8 of state alone is ~326 GiB per GPU.
  const std::string oom = R"({"dp": 128, "tp": 8})";
  auto r = run_cli("predict --model gpt3-175b --layout " + shell_quote(oom));
  EXPECT_EQ(r.code, 4) << r.out;
  EXPECT_TRUE(has(r.out, "DOES NOT FIT")) << r.out;
  EXPECT_TRUE(has(r.out, "step time")) << r.out;
  EXPECT_TRUE(has(r.out, "--allow-oom")) << r.out;
  r = run_cli("predict --model gpt3-175b --allow-oom --json --layout " + shell_quote(oom), true);
  EXPECT_EQ(r.code, 0) << r.out;
  EXPECT_FALSE(nlohmann::json::parse(r.out)["fits"].get<bool>());
}

TEST(CliDefaults, PredictionListsWhatItAssumed) {
  auto r = run_cli("predict --model gpt3-175b --layout " + shell_quote(kLayout));
  ASSERT_EQ(r.code, 0) << r.out;
  for (const char* a : {"the prediction assumed", "cluster", "(default; pass --cluster)",
                        "framework", "megatron-core", "overlap_grad_reduce", "tp_comm_overlap",
                        "attention", "flash", "gradients"})
    EXPECT_TRUE(has(r.out, a)) << a << "\n" << r.out;
  r = run_cli("predict --model gpt3-175b --cluster dgx-a100-80g --json --layout " + shell_quote(kLayout), true);
  auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["assumptions"]["framework"]["value"], "megatron-core");
  EXPECT_EQ(j["assumptions"]["overlap_grad_reduce"]["value"], "off");  // megatron-core default
  EXPECT_FALSE(j["assumptions"].contains("cluster"));  // given, not defaulted
}

TEST(CliDispatch, PlanningBinaryLoadsNoLibTorchSimGridOrQt) {
  const char* bin = std::getenv("PARPLAN_BIN");
  ASSERT_NE(bin, nullptr);
  FILE* p = popen(("ldd " + shell_quote(bin) + " 2>&1").c_str(), "r");
  ASSERT_NE(p, nullptr);
  std::string out;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
  pclose(p);
  ASSERT_TRUE(has(out, "libc.so")) << out;
  for (const char* lib : {"libtorch", "libc10", "libsimgrid", "libQt6", "libgloo", "libnccl"})
    EXPECT_FALSE(has(out, lib)) << lib << " is linked into parplan:\n" << out;
}

TEST(CliDispatch, RunAndSimulateAreServedBySiblings) {
  auto r = run_cli("compare --help");
  EXPECT_EQ(r.code, 0) << r.out;
  EXPECT_TRUE(has(r.out, "parplan compare")) << r.out;
  r = run_cli("simulate --help");
  EXPECT_EQ(r.code, 0) << r.out;
  EXPECT_TRUE(has(r.out, "parplan simulate")) << r.out;  // parplan-sim answered
  EXPECT_TRUE(has(r.out, "SimGrid")) << r.out;
  // Without its sibling, parplan says which file is missing and how to build it (exit 3).
  const auto dir = std::filesystem::temp_directory_path() / ("parplan-alone." + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  std::filesystem::copy_file(std::getenv("PARPLAN_BIN"), dir / "parplan");
  FILE* p = popen((shell_quote((dir / "parplan").string()) + " simulate --plan x.json 2>&1").c_str(), "r");
  std::string out;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
  const int status = pclose(p);
  std::filesystem::remove_all(dir);
  EXPECT_EQ(WEXITSTATUS(status), 3) << out;
  EXPECT_TRUE(has(out, "parplan-sim")) << out;
  EXPECT_TRUE(has(out, "cmake --build build --target parplan-sim")) << out;
}
