#pragma once
// What the runtime tests that train share: the Tiny Shakespeare text, a temporary folder per test
// process, the options of a quiet one-thread run of a plan written there, and runs of this binary
// as its own workers (`runtime_test worker`).
#include <unistd.h>

#include <filesystem>
#include <map>
#include <string>

#include <nlohmann/json.hpp>

#include "parplan/model/io.hpp"
#include "parplan/model/plan.hpp"
#include "parplan/runtime/run.hpp"

namespace parplan::test {

inline const std::string kShakespeare =
    std::string(PARPLAN_SHARED_DIR) + "/data/tinyshakespeare/input.txt";

// <temp>/<prefix><pid>, created: one folder per test file and process.
inline std::filesystem::path process_dir(const std::string& prefix) {
  auto d = std::filesystem::temp_directory_path() / (prefix + std::to_string(::getpid()));
  std::filesystem::create_directories(d);
  return d;
}

// `plan` written as <dir>/<name>.plan.json, measured into <dir>/<name>.measured.json.
inline runtime::RunOptions run_options(const Plan& plan, const std::filesystem::path& dir,
                                       const std::string& name, int64_t steps, int64_t eval_iters,
                                       double timeout_s) {
  auto plan_path = (dir / (name + ".plan.json")).string();
  write_file_atomic(plan_path, to_json(plan).dump());
  runtime::RunOptions o;
  o.plan = plan_path;
  o.data = kShakespeare;
  o.out = (dir / (name + ".measured.json")).string();
  o.steps = steps;
  o.eval_iters = eval_iters;
  o.timeout_s = timeout_s;
  o.quiet = true;
  o.threads = 1;
  return o;
}

inline nlohmann::json run_here(const runtime::RunOptions& o) {
  return runtime::run(o, "/proc/self/exe", {"worker"});
}

// Runs shared between tests (each costs seconds), by the file they measure into.
inline const nlohmann::json& cached_run(const runtime::RunOptions& o) {
  static std::map<std::string, nlohmann::json> cache;
  auto it = cache.find(o.out);
  if (it == cache.end()) it = cache.emplace(o.out, run_here(o)).first;
  return it->second;
}

}  // namespace parplan::test
