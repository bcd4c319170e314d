#pragma once
// The `parplan` subcommands. Each lives in its own cmd_*.cpp and registers itself on the app;
// parplan.cpp only wires them together and turns errors into exit codes.
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "parplan/model/plan.hpp"

namespace parplan::cli {

void add_predict_command(CLI::App& app);    // cmd_predict.cpp
void add_validate_command(CLI::App& app);   // cmd_validate.cpp
void add_import_command(CLI::App& app);     // cmd_import.cpp: training logs -> measured runs
void add_fit_runs_command(CLI::App& app);   // cmd_fit_runs.cpp: fit --runs (imported runs)
void add_plan_command(CLI::App& app);       // cmd_plan.cpp
void add_explain_command(CLI::App& app);    // cmd_explain.cpp
void add_export_command(CLI::App& app);     // cmd_export.cpp
// parplan-sim (parplan_sim.cpp):
void add_simulate_command(CLI::App& app);    // cmd_simulate.cpp (SimGrid) or a stub
void add_step_times_command(CLI::App& app);  // hidden `step-times`: for plan --simulate
// parplan-run (parplan_run.cpp):
void add_runtime_commands(CLI::App& app);   // cmd_runtime.cpp (LibTorch): run, calibrate,
                                            // prepare, worker; or cmd_runtime_stub.cpp
void add_compare_commands(CLI::App& app);
void add_collective_command(CLI::App& app);  // cmd_collective.cpp: one NCCL collective
void add_calibrate_nccl_command(CLI::App& app);  // cmd_calibrate_nccl.cpp: calibrate --nccl-tests
void add_sweep_command(CLI::App& app);      // cmd_sweep.cpp: whole-run cost over GPU counts   // cmd_compare.cpp: compare, fit (no LibTorch)

// Simulated step time of each plan (seconds): parplan (sim_client.cpp) runs
// `parplan-sim step-times`, which simulates each in a child process. Throws parplan::Error when
// parplan-sim is missing or was built without SimGrid.
std::vector<double> simulate_step_times(const std::vector<Plan>& plans, double max_sim_s);

}  // namespace parplan::cli
