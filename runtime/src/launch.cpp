// `parplan run` (check, then run in place under a cluster launcher or spawn local ranks) and the
// `parplan worker` entry point.
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <iostream>

#include "comm.hpp"
#include "parplan/model/io.hpp"
#include "parplan/runtime/launcher.hpp"
#include "parplan/runtime/run.hpp"
#include "trainer.hpp"

namespace parplan::runtime {
namespace fs = std::filesystem;

nlohmann::json calibrate_rank(const nlohmann::json& cfg);  // calibrate.cpp

nlohmann::json run(const RunOptions& in, const std::string& exe,
                   const std::vector<std::string>& worker_args) {
  RunOptions o = in;
  if (o.plan.empty()) throw Error("--plan is required");
  Plan plan = load_plan(o.plan);
  if (o.data.empty()) throw Error("--data is required (a UTF-8 text file or a `parplan prepare` directory)");
  if (!fs::exists(o.data)) throw Error("data file '" + o.data + "' does not exist");
  if (o.steps < 1) throw Error("--steps must be >= 1");
  if (o.timeout_s <= 0) throw Error("--timeout-s must be > 0");
  if (o.backend != "auto" && o.backend != "gloo" && o.backend != "nccl")
    throw Error("--backend must be auto, gloo or nccl");
  auto rank_env = detect_rank_env(current_environment());
  int nproc = rank_env ? rank_env->world_size : (o.nproc > 0 ? o.nproc : int(plan.layout.gpus()));
  for (auto& w : check_runnable(plan, nproc)) std::cerr << "warning: " << w << "\n";
  o.plan = to_json(plan).dump();  // ranks read the same plan, whatever its source
  if (rank_env) return train_rank(o);  // torchrun / mpiexec / srun started this process

  StoreServer store(nproc, std::chrono::milliseconds(int64_t(o.timeout_s * 1000)));
  nlohmann::json cfg = to_json(o);
  cfg["mode"] = "train";
  auto err_dir = (o.out.empty() ? fs::temp_directory_path() / ("parplan-" + std::to_string(getpid()))
                                : fs::path(o.out).replace_extension("errors"))
                     .string();
  spawn_local(exe, worker_args, nproc, store.port(),
              {{"PARPLAN_WORKER_CONFIG", cfg.dump()}, {"PARPLAN_STORE_HOSTED", "1"}},
              o.timeout_s + 1, err_dir);
  fs::remove_all(err_dir);
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
    std::cerr << "[rank " << rank << "] error: " << msg << "\n" << std::flush;
    if (const char* f = std::getenv("PARPLAN_ERROR_FILE")) std::ofstream(f) << msg << "\n";
    // Skip destructors: process groups with a dead peer can block while shutting down.
    std::cout.flush();
    _exit(dynamic_cast<const Error*>(&e) ? 2 : 1);
  }
}

}  // namespace parplan::runtime
