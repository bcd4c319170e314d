// parplan: plan, predict, simulate and run parallel training of transformer models.
#include <iostream>

#include <CLI/CLI.hpp>

#include "commands.hpp"
#include "parplan/model/error.hpp"

int main(int argc, char** argv) {
  CLI::App app{"parplan: size, plan, simulate and run parallel training of transformer models"};
  app.require_subcommand(1);
  app.set_version_flag("--version", "parplan 0.1.0");
  parplan::cli::add_predict_command(app);
  parplan::cli::add_plan_command(app);
  parplan::cli::add_explain_command(app);
  parplan::cli::add_export_command(app);
  parplan::cli::add_validate_command(app);
  parplan::cli::add_simulate_command(app);
  parplan::cli::add_runtime_commands(app);
  parplan::cli::add_compare_commands(app);
  parplan::cli::add_sweep_command(app);
  parplan::cli::add_collective_command(app);
  try {
    app.parse(argc, argv);
  } catch (const CLI::Success& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    app.exit(e);
    return 2;
  } catch (const parplan::Error& e) {
    std::cerr << "error: " << e.what() << "\n";
    return 2;
  } catch (const std::exception& e) {
    std::cerr << "error: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
