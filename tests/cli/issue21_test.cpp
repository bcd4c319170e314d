// Issue 21: nothing a user owns is replaced, every reader guarded, every number range-checked,
// one `error:` line for every parse failure. One test per numbered case of the issue, named
// Issue21.ItemN_...; the real `parplan` (and `parplan-run` for compare) binaries, real files.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <functional>
#include <sstream>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "parplan/model/io.hpp"
#include "run_cli.hpp"
#include "../support/tiny_plan.hpp"

namespace fs = std::filesystem;

namespace {
fs::path dir() {
  static fs::path d = [] {
    auto p = fs::temp_directory_path() / ("parplan_issue21_" + std::to_string(::getpid()));
    fs::remove_all(p);
    fs::create_directories(p);
    return p;
  }();
  return d;
}
std::string at(const std::string& name) { return (dir() / name).string(); }
void write(const std::string& path, const std::string& text) { std::ofstream(path, std::ios::binary) << text; }
std::string slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}
bool has(const std::string& s, const std::string& w) { return s.find(w) != std::string::npos; }
std::string q(const std::string& s) { return shell_quote(s); }
// Exactly one line of output, starting with "error: ", and nothing CLI11 or a library adds.
void expect_one_error_line(const CliResult& r, const std::string& fragment) {
  EXPECT_EQ(r.code, 2) << r.out;
  EXPECT_EQ(r.out.rfind("error: ", 0), 0u) << r.out;
  EXPECT_EQ(std::count(r.out.begin(), r.out.end(), '\n'), 1) << r.out;
  EXPECT_TRUE(has(r.out, fragment)) << "want '" << fragment << "' in: " << r.out;
  EXPECT_FALSE(has(r.out, "Run with --help")) << r.out;
  EXPECT_FALSE(has(r.out, "json.exception")) << r.out;
  EXPECT_FALSE(has(r.out, "filesystem error")) << r.out;
}
int temporaries() {
  int n = 0;
  for (const auto& e : fs::directory_iterator(dir()))
    if (e.path().filename().string().find(".tmp.") != std::string::npos) ++n;
  return n;
}
const std::string kPredict =
    "predict --model gpt2-124m --cluster dgx-a100-80g --train gpt2-512 --layout '{\"dp\": 8}'";
const std::string kPlanArgs = "--model gpt2-124m --cluster dgx-a100-80g --train gpt2-512 --gpus 8";
// A plan file written by `parplan plan` itself.
std::string plan_file() {
  static std::string p = [] {
    const std::string path = at("plan.json");
    auto r = run_cli("plan " + kPlanArgs + " --out " + q(path));
    EXPECT_EQ(r.code, 0) << r.out;
    return path;
  }();
  return p;
}
}  // namespace

// 1. A device, FIFO or socket given as --out is refused (exit 2, the path named) and left as it
// was; a symbolic link is written through (docs/errors.md "Output paths").
TEST(Issue21, Item1_NonRegularOutIsRefusedAndSymlinksAreWrittenThrough) {
  for (const char* dev : {"/dev/null", "/dev/full"}) {
    for (const std::string& cmd : {kPredict, "plan " + kPlanArgs, "export --plan " + plan_file() + " --to megatron"}) {
      auto r = run_cli(cmd + " --out " + dev);
      expect_one_error_line(r, std::string("--out '") + dev + "' is not a regular file");
      struct stat st {};
      ASSERT_EQ(::stat(dev, &st), 0);
      EXPECT_TRUE(S_ISCHR(st.st_mode)) << dev << " must stay a device";
    }
  }
  ASSERT_EQ(::mkfifo(at("fifo").c_str(), 0600), 0);
  expect_one_error_line(run_cli(kPredict + " --out " + q(at("fifo"))), "FIFO");
  EXPECT_TRUE(fs::is_fifo(at("fifo")));

  write(at("real.json"), "old");
  fs::create_symlink("real.json", at("link.json"));
  auto r = run_cli(kPredict + " --out " + q(at("link.json")));
  EXPECT_EQ(r.code, 0) << r.out;
  EXPECT_TRUE(fs::is_symlink(at("link.json")));
  EXPECT_TRUE(has(slurp(at("real.json")), "\"layout\"")) << "the link's target holds the plan";
  EXPECT_EQ(temporaries(), 0);
}

// 2. --out naming the command's own input (directly, via a link, or a hard link) is refused and
// the input is unchanged.
TEST(Issue21, Item2_OutputThatIsAnInputIsRefused) {
  const std::string model = at("m.json");
  write(model, R"({"name": "m", "layers": 2, "hidden": 64, "heads": 4, "vocab": 100})");
  const std::string before = slurp(model);
  auto r = run_cli("predict --model " + q(model) + " --layout '{}' --out " + q(model));
  expect_one_error_line(r, "is the same file as the input");
  EXPECT_EQ(slurp(model), before);

  const std::string plan = plan_file(), plan_text = slurp(plan);
  expect_one_error_line(run_cli("export --plan " + q(plan) + " --to megatron --out " + q(plan)),
                        "is the same file as the input");
  fs::create_symlink(plan, at("plan_link.json"));
  expect_one_error_line(run_cli("export --plan " + q(at("plan_link.json")) + " --to megatron --out " + q(plan)),
                        "is the same file as the input");
  fs::create_hard_link(plan, at("plan_hard.json"));
  expect_one_error_line(run_cli("predict --plan " + q(plan) + " --out " + q(at("plan_hard.json"))),
                        "is the same file as the input");
  EXPECT_EQ(slurp(plan), plan_text);
  // compare / fit (parplan-run) and calibrate --nccl-tests follow the same policy.
  expect_one_error_line(run_cli("fit --cluster " + q(plan) + " --measured " + q(plan) + " --out " + q(plan)),
                        "is the same file as the input");
  EXPECT_EQ(slurp(plan), plan_text);
}

// 3. An export's companion files (ds_config.json, parplan_recipe.py, the DeepSpeed sidecar) that
// already exist are the user's: refused unless --force.
TEST(Issue21, Item3_ExistingCompanionFilesNeedForce) {
  fs::create_directories(at("exp"));
  const std::string mine = at("exp/ds_config.json");
  write(mine, "{\"the user's\": true}");
  const std::string args = "export --plan " + q(plan_file()) + " --to megatron-deepspeed --out " + q(at("exp/train.sh"));
  auto r = run_cli(args);
  expect_one_error_line(r, "ds_config.json' already exists");
  EXPECT_EQ(slurp(mine), "{\"the user's\": true}");
  EXPECT_FALSE(fs::exists(at("exp/train.sh"))) << "nothing is written when a companion is refused";
  r = run_cli(args + " --force");
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_NE(slurp(mine), "{\"the user's\": true}");
  EXPECT_TRUE(fs::exists(at("exp/train.sh")));
}

// 8. Degrees whose product passes 2^63 (was "0 x A100", MFU inf%, exit 0).
TEST(Issue21, Item8_LayoutGpuProductOverflowIsRefused) {
  const std::string big = "16777216";
  auto r = run_cli("predict --model gpt2-124m --layout '{\"dp\": " + big + ", \"tp\": " + big +
                   ", \"pp\": " + big + ", \"cp\": " + big + "}'");
  EXPECT_EQ(r.code, 2) << r.out;
  EXPECT_TRUE(has(r.out, "more than 2^40 GPUs")) << r.out;
  EXPECT_FALSE(has(r.out, "inf%")) << r.out;
}

// 9. MFU is stated with its peak; FP8 on H100 is against the FP8 peak and below 100%.
TEST(Issue21, Item9_MfuConventionIsStatedAndBelowOneHundredPercent) {
  const std::string layout = R"('{"dp": 16, "tp": 8, "pp": 8, "zero": 1, "recompute": "selective", "sequence_parallel": true}')";
  const std::string args = "predict --model gpt3-175b --cluster dgx-h100-80g --train '{\"global_batch\": 1536, "
                           "\"seq_len\": 2048, \"dtype\": \"fp8\"}' --layout " + layout + " --allow-oom";
  auto r = run_cli(args + " --json", true);
  ASSERT_EQ(r.code, 0) << r.out;
  const auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["mfu_peak"]["dtype"], "fp8");
  EXPECT_DOUBLE_EQ(j["mfu_peak"]["tflops_per_gpu"].get<double>(), 1979.0);
  EXPECT_LE(j["mfu"].get<double>(), 1.0);
  EXPECT_NEAR(j["mfu"].get<double>(), j["model_tflops_per_gpu"].get<double>() / 1979.0, 1e-9);
  r = run_cli(args);
  EXPECT_TRUE(has(r.out, "of the fp8 dense peak, 1979 TFLOP/s per GPU")) << r.out;
}

// 10 and 12. nccl-tests rows with NaN, inf, negative or 1e308 values, --gpus 1e8, and
// /dev/zero, /dev/urandom or a FIFO as the file (was a hang at 1.6 GB RSS).
TEST(Issue21, Item10_12_NcclTestsRowsAndFilesAreChecked) {
  const std::string head =
      "#  Rank  0 Group  0 Pid  1 on host device  0 [0x07] NVIDIA A100\n"
      "#  Rank  1 Group  0 Pid  1 on host device  1 [0x07] NVIDIA A100\n"
      "#       size         count      type   redop    root     time   algbw   busbw #wrong\n"
      "           8             2     float     sum      -1    9.00    0.00    0.00      0\n";
  const std::vector<std::pair<std::string, std::string>> bad = {
      {"  1048576  262144  float  sum  -1  nan  10.0  10.0  0\n", "time must be a finite number"},
      {"  1048576  262144  float  sum  -1  80.0  10.0  inf  0\n", "busbw must be a finite number"},
      {"  1048576  262144  float  sum  -1  80.0  10.0  -5  0\n", "busbw must be a finite number"},
      {"  1048576  262144  float  sum  -1  80.0  10.0  1e308  0\n", "busbw must be a finite number"},
      {"  1e308  262144  float  sum  -1  80.0  10.0  10.0  0\n", "size must be a whole number"},
      {"  -8  262144  float  sum  -1  80.0  10.0  10.0  0\n", "size must be a whole number"}};
  int i = 0;
  for (const auto& [row, fragment] : bad) {
    const std::string in = at("all_reduce_perf_" + std::to_string(i++) + ".txt");
    write(in, head + row);
    auto r = run_cli("calibrate --nccl-tests " + q(in) + " --out " + q(at("nccl_out.json")));
    expect_one_error_line(r, fragment);
    EXPECT_TRUE(has(r.out, "line 5")) << r.out;
    EXPECT_FALSE(fs::exists(at("nccl_out.json")));
  }
  const std::string good = at("all_reduce_perf_good.txt");
  write(good, head + "  1048576  262144  float  sum  -1  80.0  10.0  10.0  0\n");
  expect_one_error_line(run_cli("calibrate --nccl-tests " + q(good) + " --gpus 1e8 --out " + q(at("n.json"))),
                        "--gpus");
  expect_one_error_line(run_cli("calibrate --nccl-tests " + q(good) + " --gpus 100000000 --out " + q(at("n.json"))),
                        "--gpus");
  ::mkfifo(at("nccl_fifo_all_reduce").c_str(), 0600);
  for (const std::string& f : {std::string("/dev/zero"), std::string("/dev/urandom"), at("nccl_fifo_all_reduce")})
    expect_one_error_line(run_cli("calibrate --op all_reduce --nccl-tests " + q(f) + " --out " + q(at("n.json"))),
                          "not a regular file");
}

// 11. validate --published measured_s 0 (+inf%), offload with host.memory_GiB 0 ("fits"),
// collective --bytes 1e308 (a 300-digit size), compare counting the memory reserve.
TEST(Issue21, Item11_ImpossibleNumbersAreRefusedOrShownAsUnchecked) {
  const std::string pub_head =
      R"({"source": "t", "common": {"seq_len": 2048, "vocab": 51200},
          "models": {"m": {"layers": 4, "hidden": 1024, "heads": 16}},
          "iteration_time_s": [{"model": "m", "gpus": 8, "tp": 2, "pp": 2, "global_batch": 16,
                                "micro_batch": 1, "recompute": "selective", )";
  write(at("pub0.json"), pub_head + R"("measured_s": 0}]})");
  expect_one_error_line(run_cli("validate --published " + q(at("pub0.json"))), "measured_s must be a finite number > 0");
  write(at("pub_ok.json"), pub_head + R"("measured_s": 1.5}]})");
  EXPECT_EQ(run_cli("validate --published " + q(at("pub_ok.json"))).code, 0);

  auto cluster = nlohmann::json::parse(slurp(std::string(PARPLAN_SOURCE_DIR) + "/examples/clusters/dgx-a100-80g.json"));
  cluster["host"]["memory_GiB"] = 0;
  write(at("no_host_memory.json"), cluster.dump());
  auto r = run_cli("predict --model llama3-8b --train gpt3-1536 --cluster " + q(at("no_host_memory.json")) +
                   " --layout '{\"dp\": 8, \"zero\": 3, \"offload\": \"optimizer\"}' --allow-oom");
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_TRUE(has(r.out, "(not checked: the cluster gives no host.memory_GiB)")) << r.out;
  EXPECT_FALSE(has(r.out, "of 0.00 GiB")) << r.out;

  expect_one_error_line(run_cli("collective --op all_reduce --gpus 8 --bytes 1e308"), "must be from 1 byte to 1P");
  expect_one_error_line(run_cli("collective --op all_reduce --gpus 8 --bytes 8..1e308"), "must be from 1 byte to 1P");

  // compare: the run's meter counts live tensors; the allocator reserve is not one of them. The
  // audit's case: a plan priced on an A100 (reserve > 0) run on the CPU.
  parplan::Plan p = parplan::test::tiny_char_plan();
  p.cluster = parplan::load_cluster("dgx-a100-80g");
  const auto pj = parplan::to_json(p);
  write(at("tiny.plan.json"), pj.dump());
  auto pred = run_cli("predict --plan " + q(at("tiny.plan.json")) + " --json --allow-oom", true);
  ASSERT_EQ(pred.code, 0) << pred.out;
  const auto mem = nlohmann::json::parse(pred.out)["memory_per_gpu_bytes"];
  const double tensors = mem["total"].get<double>() - mem["reserve"].get<double>();
  ASSERT_GT(mem["reserve"].get<double>(), 0);
  nlohmann::json measured = {{"mean_step_time_s", 0.5}, {"median_step_time_s", 0.5},
                             {"min_step_time_s", 0.4},  {"tokens_per_s", 128.0},
                             {"mfu", 0.01},             {"peak_memory_bytes", {tensors}},
                             {"memory_kind", "cpu_peak_tensor_bytes"}, {"plan", pj}};
  write(at("measured.json"), measured.dump());
  r = run_cli("compare --measured " + q(at("measured.json")) + " --json", true);
  ASSERT_EQ(r.code, 0) << r.out;
  const auto c = nlohmann::json::parse(r.out)["memory_per_rank_bytes"];
  EXPECT_NEAR(c["predicted"].get<double>(), tensors, 1.0);
  EXPECT_NEAR(c["error"].get<double>(), 0.0, 1e-9);
}

// 13. validate --published with tp/pp 0 or 2^40 (SIGFPE), a top-level array, "tp": "8" (raw
// json.exception, exit 1); a file-size limit (SIGXFSZ killed the writer, the temporary stayed).
TEST(Issue21, Item13_PublishedFileFieldsAndFileSizeLimit) {
  const std::string head = R"({"common": {}, "models": {"m": {"layers": 4, "hidden": 1024, "heads": 16}},
      "iteration_time_s": [{"model": "m", "gpus": 8, "global_batch": 16, "micro_batch": 1,
                            "recompute": "selective", "measured_s": 1.0, )";
  const std::vector<std::pair<std::string, std::string>> cases = {
      {head + R"("tp": 0, "pp": 1}]})", "tp must be an integer from 1"},
      {head + R"("tp": 1, "pp": 0}]})", "pp must be an integer from 1"},
      {head + R"("tp": 1099511627776, "pp": 1}]})", "tp must be an integer from 1"},
      {head + R"("tp": "8", "pp": 1}]})", "tp must be an integer from 1 to 16777216, got \"8\""},
      {"[1, 2]", "must be a JSON object"},
      {head + R"("tp": 3, "pp": 1}]})", "is not a multiple of tp*pp"}};
  int i = 0;
  for (const auto& [text, fragment] : cases) {
    const std::string f = at("pub_bad_" + std::to_string(i++) + ".json");
    write(f, text);
    expect_one_error_line(run_cli("validate --published " + q(f)), fragment);
  }
  // `ulimit -f 1`: 1,024 bytes; a plan file is larger. Exit 3, no signal, no temporary left.
  const char* bin = std::getenv("PARPLAN_BIN");
  ASSERT_NE(bin, nullptr);
  const std::string out = at("limited.json");
  const std::string cmd = "ulimit -f 1; " + q(bin) + " plan " + kPlanArgs + " --out " + q(out) + " 2>&1";
  FILE* p = popen(("bash -c " + q(cmd)).c_str(), "r");
  std::string text;
  char buf[4096];
  for (size_t n; (n = fread(buf, 1, sizeof buf, p)) > 0;) text.append(buf, n);
  const int status = pclose(p);
  ASSERT_TRUE(WIFEXITED(status)) << text;
  EXPECT_EQ(WEXITSTATUS(status), 3) << text;
  EXPECT_TRUE(has(text, "file-size limit")) << text;
  EXPECT_FALSE(fs::exists(out));
  EXPECT_EQ(temporaries(), 0) << text;
}

// 14. Hugging Face config strings parplan keeps or prints: no escape sequences, at most 4 KiB.
TEST(Issue21, Item14_HuggingFaceStringsAreChecked) {
  nlohmann::json hf = nlohmann::json::parse(slurp(std::string(PARPLAN_SOURCE_DIR) + "/tests/data/hf/llama-3.1-8b.json"));
  const std::string esc = "x\x1b]0;owned\x07\x1b[31mred";
  struct Case {
    std::string name;
    std::function<void(nlohmann::json&)> edit;
    std::string fragment;
  };
  const std::vector<Case> cases = {
      {"name_escape", [&](nlohmann::json& j) { j["_name_or_path"] = esc; }, "_name_or_path: must not contain control characters"},
      {"name_long", [](nlohmann::json& j) { j["_name_or_path"] = std::string(300000, 'N'); }, "_name_or_path: is 300000 bytes long"},
      {"type_escape", [&](nlohmann::json& j) { j["model_type"] = esc; }, "model_type: must not contain control characters"},
      {"rope_escape", [&](nlohmann::json& j) { j["rope_scaling"]["rope_type"] = esc; }, "rope_type: must not contain control characters"}};
  for (const auto& c : cases) {
    auto j = hf;
    c.edit(j);
    const std::string f = at("hf_" + c.name + ".json");
    write(f, j.dump());
    auto r = run_cli("predict --model " + q(f) + " --layout '{\"dp\": 8}'");
    EXPECT_EQ(r.code, 2) << c.name << ": " << r.out.substr(0, 400);
    EXPECT_TRUE(has(r.out, c.fragment)) << c.name << ": " << r.out.substr(0, 400);
    EXPECT_FALSE(has(r.out, "\x1b")) << c.name << ": an escape reached the terminal";
    EXPECT_LT(r.out.size(), 4000u) << c.name;
  }
}

// 15. CLI11's own errors as one `error:` line; contradictions refused; --threads alike for every
// command; outputs checked before the work.
TEST(Issue21, Item15_ParseErrorsContradictionsThreadsAndEarlyOutputChecks) {
  expect_one_error_line(run_cli("plan --frobnicate"), "frobnicate");
  expect_one_error_line(run_cli("plan --top"), "--top");
  expect_one_error_line(run_cli("predict --stage x"), "--stage");
  expect_one_error_line(run_cli("export --to megatron"), "--plan");
  expect_one_error_line(run_cli("predict --plan " + q(plan_file()) + " --model gpt2-124m"),
                        "--plan takes the model");
  expect_one_error_line(run_cli("sweep --model gpt2-124m --cluster dgx-a100-80g --train gpt2-512 "
                                "--gpus 8..16 --tokens 1e9 --json --csv"),
                        "--json and --csv");
  expect_one_error_line(run_cli("plan " + kPlanArgs + " --fix tp=8,tp=4"), "--fix names tp twice");
  expect_one_error_line(run_cli("plan " + kPlanArgs + " --fix mb=1,micro_batch=2"), "--fix names mb twice");
  expect_one_error_line(run_cli(kPredict + " --out ''"), "--out is empty");
  expect_one_error_line(run_cli("plan " + kPlanArgs + " --out ''"), "--out is empty");
  expect_one_error_line(run_cli("export --plan " + q(plan_file()) + " --to megatron --out ''"), "--out is empty");
  const std::string too_many = std::to_string(std::max(1u, std::thread::hardware_concurrency()) + 1);
  for (const std::string& cmd : {"plan " + kPlanArgs, "explain " + kPlanArgs,
                                 std::string("sweep --model gpt2-124m --cluster dgx-a100-80g --train gpt2-512 "
                                             "--gpus 8 --tokens 1e9")})
    expect_one_error_line(run_cli(cmd + " --threads " + too_many), "this machine's cores");
  // A missing folder is refused, not created, and before the search (no table was printed).
  auto r = run_cli("plan --model gpt3-175b --cluster dgx-a100-80g --train gpt3-1536 --gpus 1024 --out " +
                   q(at("missing/dir/p.json")));
  expect_one_error_line(r, "its folder does not exist");
  EXPECT_FALSE(fs::exists(at("missing")));
  // Before any work: with an output and an input both wrong, the output is the one named (the
  // inputs were not even read), for every writer.
  expect_one_error_line(run_cli("plan --model /nonexistent/m.json --gpus 8 --out /dev/null"), "--out '/dev/null'");
  expect_one_error_line(run_cli("predict --model /nonexistent/m.json --layout '{}' --out /dev/null"), "--out '/dev/null'");
  expect_one_error_line(run_cli("export --plan /nonexistent/p.json --to megatron --out /dev/null"), "--out '/dev/null'");
  expect_one_error_line(run_cli("fit --cluster /nonexistent/c.json --measured /nonexistent/m.json --out /dev/null"),
                        "--out '/dev/null'");
}
