#pragma once
// Running a plan for real: options, the local launcher, the per-rank worker, calibration.
// Torch-free interface; the implementation (runtime/src) uses LibTorch + c10d.
#include <cstdint>
#include <string>

#include <nlohmann/json.hpp>

namespace parplan::runtime {

struct RunOptions {
  std::string plan;             // plan.json path (or inline JSON)
  std::string data;             // text file or prepared directory
  std::string out;              // measured.json
  std::string trace_dir;        // Chrome traces trace_rank<R>.json; default: next to `out`
  int nproc = 0;                // 0: the plan's GPU count
  int64_t steps = 20;
  int64_t trace_step = -1;      // the step traced (0-based); -1: the third after the start
  int64_t log_interval = 1;
  int64_t eval_interval = 0;    // 0: evaluate at the end only
  int64_t eval_iters = 4;
  double lr = 0;                // 0: the plan's training.learning_rate
  uint64_t seed = 1337;
  double timeout_s = 60;        // every collective, p2p and the rendezvous
  std::string backend = "auto";  // auto | gloo | nccl
  double bucket_mb = 4;         // gradient all-reduce bucket
  std::string ckpt_dir;         // empty: no checkpoints
  int64_t ckpt_interval = 0;
  bool resume = false;
  std::string prompt = "\n";
  int64_t sample_tokens = 0;    // generated characters printed at the end (0: none)
  int64_t threads = 0;          // intra-op threads per rank; 0: cores / local ranks
  bool quiet = false;
  // Scale the plan's model down (e.g. a Hugging Face config for a CPU run); 0: the plan's.
  // --hidden keeps the heads (head_dim = hidden / heads) and scales the FFN widths with it.
  int64_t layers = 0, hidden = 0, vocab = 0;
};

nlohmann::json to_json(const RunOptions& o);
RunOptions run_options_from_json(const nlohmann::json& j);
// Every option in range, finite and valid UTF-8 (docs/errors.md); throws parplan::Error naming
// the option and the fix. 0 keeps its "default" meaning where the field says so (nproc, lr,
// threads); the CLI rejects an explicit 0 for those.
void validate_run_options(const RunOptions& o);
// The output policy (parplan/model/output_policy.hpp) for --out before any work: a regular file
// or a new one in an existing folder (no folder is created), never a device, FIFO or socket, and
// never the --plan, the --data text or a prepared directory's files. Rank 0 only (other nodes may
// not see the folder).
void check_run_outputs(const RunOptions& o);

// `parplan run`: checks the inputs, then either runs in place as one rank of a cluster launch
// (torchrun / mpiexec / srun variables set) or spawns o.nproc local ranks by re-executing `exe`
// with `worker_args`. Rank 0 writes o.out; returns its contents (a cluster rank != 0 returns
// {"rank": r} after a successful run). Throws parplan::Error.
nlohmann::json run(const RunOptions& o, const std::string& exe,
                   const std::vector<std::string>& worker_args);

// The body of one rank (`parplan worker`): reads its options from PARPLAN_WORKER_CONFIG and its
// rank from the environment. Returns the process exit code; errors are written to stderr and to
// PARPLAN_ERROR_FILE.
int worker_main();

struct CalibrateOptions {
  int nproc = 2;
  std::string out;
  std::string dtype = "fp32";
  double timeout_s = 60;
  std::string backend = "auto";
  std::string name = "calibrated-cpu";
  std::string plan;  // measure the GEMM shapes of this plan's model (empty: a generic set)
};
// `parplan calibrate`: measures matmul FLOP/s, memory bandwidth and collective bandwidth/latency
// over 2..nproc ranks and returns a cluster file (model::to_json(Cluster)).
nlohmann::json calibrate(const CalibrateOptions& o, const std::string& exe,
                         const std::vector<std::string>& worker_args);

}  // namespace parplan::runtime
