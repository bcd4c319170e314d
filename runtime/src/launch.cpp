// `parplan run` (check, then run in place under a cluster launcher or spawn local ranks) and the
// `parplan worker` entry point.
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <iostream>
#include <optional>

#include "checkpoint.hpp"
#include "comm.hpp"
#include "path_lock.hpp"
#include "parplan/model/io.hpp"
#include "parplan/model/output_policy.hpp"
#include "parplan/runtime/fault_hooks.hpp"
#include "parplan/runtime/launcher.hpp"
#include "parplan/runtime/run.hpp"
#include "trainer.hpp"

// Fault injection (tests only): nullptr in every binary that does not install a hook.
parplan::runtime::FaultHook parplan::runtime::fault_hook = nullptr;

namespace parplan::runtime {
namespace fs = std::filesystem;

nlohmann::json calibrate_rank(const nlohmann::json& cfg);  // calibrate.cpp

nlohmann::json run(const RunOptions& in, const std::string& exe,
                   const std::vector<std::string>& worker_args) {
  RunOptions o = in;
  if (o.plan.empty()) throw Error("--plan is required");
  if (o.data.empty()) throw Error("--data is required (a UTF-8 text file or a `parplan prepare` directory)");
  validate_run_options(o);
  Plan plan = load_plan(o.plan);
  apply_model_overrides(plan, o);  // the ranks read the scaled plan below
  o.layers = o.hidden = o.vocab = 0;
  std::error_code ec;
  if (!fs::exists(o.data, ec)) throw Error("data file '" + brief(o.data, 200) + "' does not exist; check --data");
  auto rank_env = detect_rank_env(current_environment());
  int nproc = rank_env ? rank_env->world_size : (o.nproc > 0 ? o.nproc : int(plan.layout.gpus()));
  for (auto& w : check_runnable(plan, nproc)) std::cerr << "warning: " << w << "\n";
  o.plan = to_json(plan).dump();  // ranks read the same plan, whatever its source

  // One run per --out and --ckpt-dir at a time (rank 0 of a cluster launch holds the locks).
  std::optional<PathLock> out_lock, ckpt_lock;
  if (!rank_env || rank_env->rank == 0) {
    check_run_outputs(in);  // the output policy: no device, no input, no missing folder
    if (!o.out.empty()) out_lock.emplace(lock_path_for(o.out), "--out " + brief(o.out, 200));
    if (!o.ckpt_dir.empty()) {
      fs::create_directories(o.ckpt_dir, ec);
      if (ec) throw Error("cannot create --ckpt-dir '" + brief(o.ckpt_dir, 200) + "': " + ec.message());
      ckpt_lock.emplace(lock_path_for(o.ckpt_dir, true), "--ckpt-dir " + brief(o.ckpt_dir, 200));
    }
  }
  // Resume problems (steps already done, other settings, damaged files) before any rank starts.
  check_checkpoint_dir(o, run_settings(o, plan, nproc), !rank_env);
  if (rank_env) {  // torchrun / mpiexec / srun started this process
    auto m = train_rank(o);
    if (rank_env->rank != 0) return {{"rank", rank_env->rank}};  // a success: rank 0 writes --out
    return m;
  }

  nlohmann::json cfg = to_json(o);
  cfg["mode"] = "train";
  LocalRendezvous rdzv;  // private 0700 dir: the ranks' FileStore and error files; no socket
  spawn_local(exe, worker_args, nproc, 0, rdzv.env({{"PARPLAN_WORKER_CONFIG", cfg.dump()}}),
              o.timeout_s + 1, rdzv.dir());
  if (o.out.empty()) return {};
  return parse_json_text(read_file(o.out), o.out);
}

int worker_main() {
  int rank = -1;
  try {
    const char* cfg_text = std::getenv("PARPLAN_WORKER_CONFIG");
    if (!cfg_text) throw Error("`parplan worker` is started by `parplan run`; PARPLAN_WORKER_CONFIG is not set");
    if (auto e = detect_rank_env(current_environment())) rank = e->rank;
    auto cfg = parse_json_text(cfg_text, "PARPLAN_WORKER_CONFIG");
    if (cfg.value("mode", "train") == "calibrate")
      calibrate_rank(cfg);
    else
      train_rank(run_options_from_json(cfg));
    std::cout.flush();
    return 0;
  } catch (const std::exception& e) {
    std::string msg = e.what();
    int code = 1;  // an unexpected exception: a bug (docs/errors.md)
    if (dynamic_cast<const EnvironmentError*>(&e)) {
      code = 3;
    } else if (dynamic_cast<const Error*>(&e)) {
      code = 2;
    } else if (dynamic_cast<const std::bad_alloc*>(&e)) {
      code = 3;
      msg = "out of memory: the model, batch or threads do not fit this machine";
    } else {
      auto nl = msg.find("\nException raised from");  // c10::Error's C++ stack trace
      if (nl != std::string::npos) msg.resize(nl);
      msg = "internal error (please report): " + brief(msg, 400);
    }
    std::cerr << "[rank " << rank << "] error: " << msg << "\n" << std::flush;
    if (const char* f = std::getenv("PARPLAN_ERROR_FILE")) std::ofstream(f) << msg << "\n";
    // Skip destructors: process groups with a dead peer can block while shutting down.
    std::cout.flush();
    _exit(code);
  }
}

}  // namespace parplan::runtime
