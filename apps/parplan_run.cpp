// parplan-run: the commands of `parplan` that train or measure (run, calibrate, prepare, the
// hidden worker; LibTorch when built with it) and compare/fit. `parplan run ...` execs this.
#include "commands.hpp"
#include "main_common.hpp"

int main(int argc, char** argv) {
  CLI::App app{"parplan (run, calibrate, prepare, compare, fit): train, measure and fit", "parplan"};
  app.require_subcommand(1);
  app.set_version_flag("--version", "parplan 0.1.0");
  parplan::cli::add_runtime_commands(app);
  parplan::cli::add_compare_commands(app);
  return parplan::cli::run_app(app, argc, argv);
}
