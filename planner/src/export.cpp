// Export dispatch: format and framework names, and which target writes which files (the targets
// live in export_megatron.cpp, export_deepspeed.cpp, export_torchtitan.cpp and export_launch.cpp).
// The pipeline split written is cost::stage_layer_split, the one the step is priced and simulated
// with.
#include "parplan/planner/export.hpp"

#include <algorithm>

#include "export_util.hpp"

namespace parplan::planner {

bool parse_export_format(const std::string& f, ExportFormat& out) {
  if (f == "megatron" || f == "megatron-lm")
    out = ExportFormat::Megatron;
  else if (f == "megatron-deepspeed")
    out = ExportFormat::MegatronDeepSpeed;
  else if (f == "deepspeed" || f == "ds")
    out = ExportFormat::DeepSpeed;
  else if (f == "torchtitan")
    out = ExportFormat::Torchtitan;
  else if (f == "torchtitan-toml")
    out = ExportFormat::TorchtitanToml;
  else if (f == "torchrun")
    out = ExportFormat::Torchrun;
  else if (f == "mpiexec" || f == "mpirun")
    out = ExportFormat::Mpiexec;
  else if (f == "pbs")
    out = ExportFormat::Pbs;
  else if (f == "srun" || f == "slurm")
    out = ExportFormat::Srun;
  else
    return false;
  return true;
}

bool parse_framework(const std::string& f, Framework& out) {
  if (f == "megatron" || f == "megatron-lm" || f == "megatron-core")
    out = Framework::Megatron;
  else if (f == "megatron-deepspeed")
    out = Framework::MegatronDeepSpeed;
  else if (f == "deepspeed")
    out = Framework::DeepSpeed;
  else if (f == "torchtitan" || f == "fsdp2")
    out = Framework::Torchtitan;
  else if (f == "parplan")
    out = Framework::Parplan;
  else
    return false;
  return true;
}

const char* to_string(Framework f) {
  switch (f) {
    case Framework::Megatron: return "megatron";
    case Framework::MegatronDeepSpeed: return "megatron-deepspeed";
    case Framework::DeepSpeed: return "deepspeed";
    case Framework::Torchtitan: return "torchtitan";
    case Framework::Parplan: return "parplan";
  }
  return "?";
}

Framework priced_framework(const Plan& p) {
  Framework f = Framework::Megatron;
  parse_framework(p.training.framework_name(), f);
  return f;
}

std::vector<ExportFile> launch_files(const Plan& p, ExportFormat f, Framework fw);  // launch.cpp
std::vector<ExportFile> megatron_files(const Plan& p);                             // megatron.cpp
std::vector<ExportFile> megatron_deepspeed_files(const Plan& p);                   // deepspeed.cpp
std::vector<ExportFile> deepspeed_files(const Plan& p);                            // deepspeed.cpp
std::vector<ExportFile> torchtitan_files(const Plan& p, bool toml);                // torchtitan.cpp

std::vector<ExportFile> export_files(const Plan& p, ExportFormat f, Framework launch) {
  // Activation offloading is Megatron-Core's TransformerConfig.cpu_offloading_num_layers (set by
  // Megatron-Bridge recipes); no exported command line or config has a flag for it.
  if (p.layout.activation_offload_layers > 0)
    detail::refuse("this format", "layout.activation_offload_layers " + std::to_string(p.layout.activation_offload_layers) +
                              ": no exported command line or config offloads activations (Megatron-Core's "
                              "cpu_offloading_num_layers is set in a Megatron-Bridge recipe)",
           "set layout.activation_offload_layers to 0 and re-plan, or set cpu_offloading in your recipe");
  switch (f) {
    case ExportFormat::Megatron: return megatron_files(p);
    case ExportFormat::MegatronDeepSpeed: return megatron_deepspeed_files(p);
    case ExportFormat::DeepSpeed: return deepspeed_files(p);
    case ExportFormat::Torchtitan: return torchtitan_files(p, false);
    case ExportFormat::TorchtitanToml: return torchtitan_files(p, true);
    case ExportFormat::Torchrun:
    case ExportFormat::Mpiexec:
    case ExportFormat::Pbs:
    case ExportFormat::Srun: return launch_files(p, f, launch);
  }
  throw Error("unknown export format");
}

std::string export_plan(const Plan& p, ExportFormat f, Framework launch) {
  return export_files(p, f, launch).front().text;
}

}  // namespace parplan::planner
