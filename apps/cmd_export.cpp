// `parplan export`: a plan as Megatron-LM arguments, a DeepSpeed config or a launch line.
#include "commands.hpp"
#include "inputs.hpp"
#include "parplan/model/io.hpp"
#include "parplan/planner/export.hpp"

namespace parplan::cli {

void add_export_command(CLI::App& app) {
  struct Options {
    std::string plan, to, out;
  };
  auto eo = std::make_shared<Options>();
  auto* cmd = app.add_subcommand(
      "export", "write a plan as Megatron-LM arguments, a DeepSpeed config or a launch line");
  cmd->add_option("--plan,-p", eo->plan, "plan.json (from `parplan plan --out`)")->required();
  cmd->add_option("--to", eo->to, "megatron, deepspeed, torchrun, mpiexec or srun")->required();
  cmd->add_option("--out,-o", eo->out, "write to this file (default: stdout)");
  cmd->callback([eo] {
    planner::ExportFormat f;
    if (!planner::parse_export_format(eo->to, f))
      throw Error("--to '" + eo->to +
                  "': unknown format; use megatron, deepspeed, torchrun, "
                  "mpiexec or srun");
    std::vector<std::string> warnings;
    Plan p = load_plan(eo->plan, &warnings);
    print_warnings(warnings);
    emit(eo->out, planner::export_plan(p, f));
  });
}

}  // namespace parplan::cli
