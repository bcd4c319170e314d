// What the cost model prices but the runtime does not run — FP8, Ulysses and USP context
// parallelism, HSDP shard groups, memory-centric tiles — is refused before any rank starts: one
// line naming the field and what the runtime runs instead, exit 2 through the real CLI
// (docs/errors.md), nothing written to --out.
#include <sys/wait.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <gtest/gtest.h>

#include "parplan/model/error.hpp"
#include "parplan/model/io.hpp"
#include "parplan/runtime/run.hpp"
#include "../support/tiny_plan.hpp"

using namespace parplan;
namespace fs = std::filesystem;

namespace {

const std::string kData = std::string(PARPLAN_SHARED_DIR) + "/data/tinyshakespeare/input.txt";

fs::path tmp_dir() {
  auto d = fs::temp_directory_path() / ("parplan_refuse_" + std::to_string(::getpid()));
  fs::create_directories(d);
  return d;
}

// A 2-layer, 4-head GPT on 2 ranks that the runtime runs as it is (the refusal is the only change).
Plan runnable(int dp, int cp) {
  Plan p = test::tiny_char_plan(4, dp);
  p.layout.cp = cp;
  return p;
}

struct Case {
  const char* name;
  Plan plan;
  const char* field;  // the field the message names
  const char* fix;    // what the runtime runs instead
};

std::vector<Case> cases() {
  std::vector<Case> out;
  for (Fp8Recipe r : {Fp8Recipe::Delayed, Fp8Recipe::Blockwise}) {
    Plan p = runnable(2, 1);
    p.training.dtype = DType::FP8;
    p.training.fp8_recipe = r;
    out.push_back({r == Fp8Recipe::Delayed ? "fp8_delayed" : "fp8_blockwise", p, "train.dtype fp8",
                   "set train.dtype fp32"});
  }
  Plan u = runnable(1, 2);  // 4 heads: Ulysses 2 splits them, so only the runtime says no
  u.layout.cp_kind = CpKind::Ulysses;
  out.push_back({"ulysses", u, "layout.cp_kind ulysses", "set layout.cp_kind ring"});
  u.layout.cp_kind = CpKind::Usp;
  out.push_back({"usp", u, "layout.cp_kind usp", "set layout.cp_kind ring"});
  Plan h = runnable(2, 1);  // ZeRO-3 in groups of 1 rank of dp 2: the model accepts it
  h.layout.zero = 3;
  h.layout.shard_group = 1;
  out.push_back({"hsdp", h, "layout.shard_group 1 of dp 2", "set layout.shard_group 0"});
  Plan t = runnable(2, 1);
  t.layout.tiles = 4;
  out.push_back({"tiles", t, "layout.tiles 4", "set layout.tiles 1"});
  return out;
}

std::string write_plan(const Case& c) {
  // The model itself accepts the plan: the refusal is the runtime's, not a validation error.
  Diagnostics d;
  validate(c.plan.layout, c.plan.model, c.plan.cluster, c.plan.training, d);
  EXPECT_TRUE(d.ok()) << c.name << ": " << (d.errors.empty() ? "" : d.errors.front());
  auto path = (tmp_dir() / (std::string(c.name) + ".plan.json")).string();
  write_file_atomic(path, to_json(c.plan).dump());
  return path;
}

TEST(RuntimeRefusals, EachIsOneLineNamingTheFieldAndWhatRuns) {
  for (const Case& c : cases()) {
    runtime::RunOptions o;
    o.plan = write_plan(c);
    o.data = kData;
    o.out = (tmp_dir() / (std::string(c.name) + ".measured.json")).string();
    o.steps = 2;
    o.quiet = true;
    o.threads = 1;
    o.nproc = c.plan.layout.gpus();
    std::string msg = "(no error)";
    try {
      runtime::run(o, "/proc/self/exe", {"worker"});
    } catch (const Error& e) {
      msg = e.what();
    }
    EXPECT_EQ(msg.find('\n'), std::string::npos) << c.name << ": " << msg;
    EXPECT_EQ(msg.rfind("the plan cannot be run: ", 0), 0u) << c.name << ": " << msg;
    EXPECT_NE(msg.find(c.field), std::string::npos) << c.name << ": " << msg;
    EXPECT_NE(msg.find(c.fix), std::string::npos) << c.name << ": " << msg;
    EXPECT_FALSE(fs::exists(o.out)) << c.name;
  }
  fs::remove_all(tmp_dir());
}

// `parplan run` as a user types it: exit 2 and one line on stderr, before any rank starts.
TEST(RuntimeRefusals, TheCliExitsTwoWithThatLine) {
  const std::string bin = std::string(PARPLAN_BINARY_DIR) + "/apps/parplan";
  ASSERT_TRUE(fs::exists(bin)) << bin << " (runtime_test depends on parplan and parplan-run)";
  for (const Case& c : cases()) {
    const auto out = tmp_dir() / (std::string(c.name) + ".cli.json");
    const auto err = tmp_dir() / (std::string(c.name) + ".stderr");
    const std::string cmd = "timeout -k 5 60 '" + bin + "' run --plan '" + write_plan(c) +
                            "' --data '" + kData + "' --out '" + out.string() +
                            "' --steps 2 --threads 1 --quiet 2> '" + err.string() + "'";
    const int st = std::system(cmd.c_str());
    ASSERT_TRUE(WIFEXITED(st)) << c.name;
    EXPECT_EQ(WEXITSTATUS(st), 2) << c.name;
    std::ifstream in(err);
    std::stringstream text;
    text << in.rdbuf();
    const std::string s = text.str();
    EXPECT_EQ(s.rfind("error: the plan cannot be run: ", 0), 0u) << c.name << ": " << s;
    EXPECT_EQ(s.find('\n'), s.size() - 1) << c.name << ": one line expected: " << s;
    EXPECT_NE(s.find(c.field), std::string::npos) << c.name << ": " << s;
    EXPECT_NE(s.find(c.fix), std::string::npos) << c.name << ": " << s;
    EXPECT_FALSE(fs::exists(out)) << c.name;
  }
  fs::remove_all(tmp_dir());
}

}  // namespace
