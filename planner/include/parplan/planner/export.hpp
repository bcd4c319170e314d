#pragma once
// A plan as the configuration a training framework runs exactly as it was priced, and as launch
// lines for it. Where a framework cannot express the plan, export throws parplan::Error naming
// what cannot be expressed and the fix (re-plan with a --fix pin, or another target).
//
// Upstream flag and key lists, with their commits, are test data (tests/data/upstream/); the
// tests check every emitted flag and key against them.
#include <string>
#include <vector>

#include "parplan/model/plan.hpp"

namespace parplan::planner {

enum class ExportFormat {
  Megatron,           // Megatron-LM pretrain_gpt.py command line (Megatron-Core flags)
  MegatronDeepSpeed,  // argonne-lcf/Megatron-DeepSpeed pretrain_gpt.py + its ds_config.json
  DeepSpeed,          // a DeepSpeed config (DeepSpeed keys only) + a plan sidecar
  Torchtitan,         // torchtitan --section.key overrides (current Trainer.Config)
  TorchtitanToml,     // torchtitan job TOML (releases before the config refactor, <= v0.2.2)
  Torchrun,
  Mpiexec,            // one mpiexec line
  Pbs,                // a PBS job script around mpiexec (Polaris-style systems)
  Srun,
};
// The program the launch lines start.
enum class Framework { Megatron, MegatronDeepSpeed, DeepSpeed, Torchtitan, Parplan };

bool parse_export_format(const std::string& s, ExportFormat& out);
bool parse_framework(const std::string& s, Framework& out);
const char* to_string(Framework f);
// The framework a plan was priced for (train.framework: megatron-core, megatron-deepspeed,
// deepspeed, torchtitan; "" is megatron-core).
Framework priced_framework(const Plan& p);

struct ExportFile {
  std::string name;  // suggested file name (ds_config.json, ...)
  std::string text;
};

// The main output of an export (a command line, a JSON or TOML file, a job script) and, for
// targets that need more than one file, the companions: files[0] is the main output.
std::vector<ExportFile> export_files(const Plan& p, ExportFormat f,
                                     Framework launch = Framework::Parplan);
// files[0].text.
std::string export_plan(const Plan& p, ExportFormat f, Framework launch = Framework::Parplan);

// The pieces launch lines are made of, per framework (export_launch.cpp).
struct EntryPoint {
  std::vector<std::pair<std::string, std::string>> env;  // variables the framework needs
  std::string program;                                    // "pretrain_gpt.py", "-m torchtitan.train"
  std::vector<std::string> args;                          // one argument (flag + value) per entry
  bool python = true;                                     // run with python3 (else a binary)
};
EntryPoint entry_point(const Plan& p, Framework f);
// Megatron-LM / Megatron-DeepSpeed / torchtitan arguments, one "--flag value" per entry.
std::vector<std::string> megatron_args(const Plan& p);
std::vector<std::string> megatron_deepspeed_args(const Plan& p,
                                                 const std::string& ds_config = "ds_config.json");
std::vector<std::string> torchtitan_args(const Plan& p);
std::string deepspeed_config(const Plan& p, bool megatron_deepspeed);

}  // namespace parplan::planner
