// `parplan export`: a plan as the configuration a framework runs (Megatron-LM, Megatron-DeepSpeed,
// DeepSpeed, torchtitan) or as launch lines for the chosen framework's entry point.
#include <iostream>

#include "commands.hpp"
#include "inputs.hpp"
#include "parplan/model/io.hpp"
#include "parplan/model/output_policy.hpp"
#include "parplan/planner/export.hpp"

namespace parplan::cli {

namespace {
const char* kFormats =
    "megatron, megatron-deepspeed, deepspeed, torchtitan, torchtitan-toml, torchrun, mpiexec, "
    "pbs or srun";

// Companion files go next to the main output under their own names (the scripts refer to them),
// except the DeepSpeed sidecar, named after the main file: x.json -> x.parplan.json.
std::string companion_path(const std::string& out, const std::string& name) {
  if (name == "ds_config.parplan.json") {
    const bool json = out.size() > 5 && out.compare(out.size() - 5, 5, ".json") == 0;
    return (json ? out.substr(0, out.size() - 5) : out) + ".parplan.json";
  }
  const auto slash = out.rfind('/');
  return (slash == std::string::npos ? std::string() : out.substr(0, slash + 1)) + name;
}
}  // namespace

void add_export_command(CLI::App& app) {
  struct Options {
    std::string plan, to, out, framework;
    bool force = false;
  };
  auto eo = std::make_shared<Options>();
  auto* cmd = app.add_subcommand(
      "export", "write a plan as framework arguments/configs (Megatron-LM, Megatron-DeepSpeed, "
                "DeepSpeed, torchtitan) or as launch lines");
  cmd->add_option("--plan,-p", eo->plan, "plan.json (from `parplan plan --out`)")->required();
  cmd->add_option("--to", eo->to, kFormats)->required();
  cmd->add_option("--framework", eo->framework,
                  "what the launch lines start: megatron, megatron-deepspeed, deepspeed, "
                  "torchtitan or parplan (default: the framework the plan was priced for, "
                  "train.framework)");
  cmd->add_option("--out,-o", eo->out,
                  "write the main file here and its companions (ds_config.json, the DeepSpeed "
                  "sidecar, parplan_recipe.py) next to it (default: main file to stdout)");
  cmd->add_flag("--force", eo->force,
                "replace companion files that already exist next to --out (default: refuse, so "
                "a ds_config.json or parplan_recipe.py of yours is never overwritten)");
  cmd->footer(
      "Every flag and key is one the framework takes (lists with their upstream commits in "
      "tests/data/upstream/). What a framework cannot run as priced is refused with the reason and "
      "a fix (exit 2). Data, tokenizer and checkpoint paths are placeholders: the script stops "
      "naming each one that is unset. See docs/design.md and docs/planner.md.");
  cmd->callback([eo, cmd] {
    check_out(cmd, "--out", eo->out, {eo->plan});  // before loading anything
    planner::ExportFormat f;
    if (!planner::parse_export_format(eo->to, f))
      throw Error("--to '" + eo->to + "': unknown format; use " + kFormats);
    std::vector<std::string> warnings;
    Plan p = load_plan(eo->plan, &warnings);
    print_warnings(warnings);
    planner::Framework fw = planner::priced_framework(p);
    if (!eo->framework.empty() && !planner::parse_framework(eo->framework, fw))
      throw Error("--framework '" + eo->framework +
                  "': unknown; use megatron, megatron-deepspeed, deepspeed, torchtitan or parplan");
    const auto files = planner::export_files(p, f, fw);
    const bool to_file = !eo->out.empty() && eo->out != "-";
    // Every companion checked before anything is written: an existing one is the user's file
    // (or an earlier export) and is replaced only with --force.
    std::vector<std::string> companions;
    if (to_file)
      for (size_t i = 1; i < files.size(); ++i) {
        const std::string path = companion_path(eo->out, files[i].name);
        if (path == eo->out || same_file(path, eo->out))
          throw Error("--out " + eo->out + " is named like its companion " + files[i].name +
                      "; choose another name for the main file");
        check_companion("--out", path, {eo->plan}, eo->force);
        companions.push_back(path);
      }
    emit(eo->out, files.front().text);
    if (files.size() > 1 && !to_file) {
      std::cerr << "note: this export also has";
      for (size_t i = 1; i < files.size(); ++i) std::cerr << " " << files[i].name;
      std::cerr << "; pass --out FILE to write them next to it\n";
    }
    for (size_t i = 0; i < companions.size(); ++i) {
      emit(companions[i], files[i + 1].text);
      std::cerr << "wrote " << companions[i] << "\n";
    }
  });
}

}  // namespace parplan::cli
