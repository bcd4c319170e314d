// parplan-sim: `parplan simulate` (SimGrid when built with it) and the hidden `step-times` that
// `parplan plan --simulate K` calls. `parplan simulate ...` execs this.
#include "commands.hpp"
#include "main_common.hpp"

int main(int argc, char** argv) {
  CLI::App app{"parplan simulate: one training step on a SimGrid model of the cluster", "parplan"};
  app.require_subcommand(1);
  app.set_version_flag("--version", "parplan 0.1.0");
  parplan::cli::add_simulate_command(app);
  parplan::cli::add_step_times_command(app);
  return parplan::cli::run_app(app, argc, argv);
}
