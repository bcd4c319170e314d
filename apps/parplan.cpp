// parplan: plan, predict, simulate and run parallel training of transformer models. This binary
// serves the planning commands; run/calibrate/prepare/compare/fit exec parplan-run and simulate
// execs parplan-sim (dispatch.hpp), so planning never loads LibTorch, SimGrid or Qt.
#include "commands.hpp"
#include "dispatch.hpp"
#include "main_common.hpp"

int main(int argc, char** argv) {
  const std::string sibling = parplan::cli::delegate_for(argc, argv);
  if (!sibling.empty()) return parplan::cli::exec_sibling(sibling, argc, argv);
  CLI::App app{"parplan: size, plan, simulate and run parallel training of transformer models\n"
               "(inputs, outputs and units: docs/design.md)",
               "parplan"};
  app.require_subcommand(1);
  app.set_version_flag("--version", "parplan 0.1.0");
  parplan::cli::add_predict_command(app);
  parplan::cli::add_plan_command(app);
  parplan::cli::add_explain_command(app);
  parplan::cli::add_export_command(app);
  parplan::cli::add_validate_command(app);
  parplan::cli::add_import_command(app);
  parplan::cli::add_fit_runs_command(app);
  parplan::cli::add_sweep_command(app);
  parplan::cli::add_collective_command(app);
  parplan::cli::add_calibrate_nccl_command(app);
  parplan::cli::add_delegated_commands(app);
  return parplan::cli::run_app(app, argc, argv);
}
