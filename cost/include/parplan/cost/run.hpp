#pragma once
// The whole training run, not one step: steps for a token budget (with an optional batch ramp),
// checkpoints and failures (goodput), wall-clock time, GPU-hours, cost and energy.
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "parplan/cost/step.hpp"

namespace parplan::cost {

// Checkpointing and failures (Daly 2006, "A higher order estimate of the optimum checkpoint
// interval for restart dumps", FGCS 22(3)): exponential failures with job MTBF M, checkpoint cost
// delta, restart R, solve time Ts, interval tau:
//   wall = M e^{R/M} (e^{(tau + delta)/M} - 1) Ts / tau                       (Daly eq. 20)
//   tau_opt = sqrt(2 delta M) [1 + sqrt(delta/(2M))/3 + delta/(18 M)] - delta  (delta < 2M)
//           = M                                                                (delta >= 2M)
struct Goodput {
  double checkpoint_bytes = 0;  // model + optimizer state of the whole model (what is saved)
  double checkpoint_s = 0;      // time a checkpoint stalls training (async: the device copy only)
  double checkpoint_write_s = 0;  // time to write one checkpoint to storage
  double interval_s = 0;        // compute time between checkpoints (0: none needed / unknown)
  double job_mtbf_s = 0;        // mean time between job-interrupting failures (0: no failures)
  double restart_s = 0;
  double expected_failures = 0;
  double lost_work_s = 0;       // recomputed work + restarts over the run
  double checkpoint_total_s = 0;  // all checkpoint stalls over the run
  double goodput = 1;           // useful time / wall time
};

// Young/Daly optimum interval (seconds of compute between checkpoints).
double daly_interval(double checkpoint_s, double mtbf_s);
// Expected wall time of `solve_s` of useful work (Daly eq. 20; mtbf 0 means no failures).
double daly_wall_time(double solve_s, double interval_s, double checkpoint_s, double restart_s,
                      double mtbf_s);

struct RunStage {
  int64_t global_batch = 0;  // sequences per step in this stage (rounded to dp * micro_batch)
  double tokens = 0;
  double steps = 0;
  double step_time_s = 0;
};

struct RunCost {
  double tokens = 0;
  double steps = 0;
  double compute_s = 0;  // steps x step time (no failures, no checkpoints)
  double wall_s = 0;     // with goodput
  double gpu_hours = 0;
  double cost = 0;       // gpu_hours x price (0 when the cluster has no price)
  std::string currency;
  double energy_kWh = 0;  // (GPU + node overhead power) x wall time x PUE (0: no power data)
  double average_power_kW = 0;
  int64_t gpus = 0;
  int64_t nodes = 0;
  Goodput goodput;
  std::vector<RunStage> stages;     // the batch ramp (one stage without a ramp)
  std::vector<std::string> notes;   // assumptions: what was unknown and how it was taken
};

// Throws parplan::Error when t.tokens <= 0 or a ramp stage does not fit the layout.
RunCost run_cost(const Model& m, const Cluster& c, const Training& t, const Layout& l,
                 const StepCost& step);

nlohmann::json to_json(const RunCost& r);

// "30d", "12h", "90m", "3600s", "3600" (seconds) -> seconds; throws parplan::Error naming `what`.
double parse_duration(const std::string& text, const std::string& what);
// Seconds as "3.4 d", "5.2 h", "12 min", "40 s".
std::string human_duration(double seconds);

}  // namespace parplan::cost
