// `parplan simulate` when parplan is built without SimGrid (-DPARPLAN_WITH_SIMGRID=OFF).
#include "commands.hpp"
#include "parplan/model/error.hpp"

namespace parplan::cli {

void add_simulate_command(CLI::App& app) {
  auto* cmd = app.add_subcommand("simulate", "simulate a plan's step with SimGrid (not built)");
  cmd->allow_extras();
  cmd->callback([] {
    throw Error("parplan was built without SimGrid; reconfigure with -DPARPLAN_WITH_SIMGRID=ON");
  });
}

void add_step_times_command(CLI::App& app) {
  auto* cmd = app.add_subcommand("step-times", "");
  cmd->group("");
  cmd->allow_extras();
  cmd->callback([] {
    throw Error("parplan was built without SimGrid; reconfigure with -DPARPLAN_WITH_SIMGRID=ON");
  });
}

}  // namespace parplan::cli
