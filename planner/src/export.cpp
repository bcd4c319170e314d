// Export dispatch: format and framework names, the pipeline split as priced, and which target
// writes which files (the targets live in export_megatron.cpp, export_deepspeed.cpp,
// export_torchtitan.cpp and export_launch.cpp).
#include "parplan/planner/export.hpp"

#include <algorithm>

#include "export_util.hpp"

namespace parplan::planner {

namespace detail {

std::vector<int64_t> stage_layers(const Model& m, const Layout& l) {
  const int64_t pp = std::max(1, l.pp), v = std::max(1, l.virtual_stages);
  std::vector<int64_t> stage(size_t(pp), 0);
  if (l.first_stage_layers > 0 || l.last_stage_layers > 0) {
    // The given first/last, the rest split evenly (model/ validates that it divides).
    const int64_t middle = pp - (l.first_stage_layers > 0) - (l.last_stage_layers > 0);
    const int64_t rest = m.layers - l.first_stage_layers - l.last_stage_layers;
    for (auto& x : stage) x = middle > 0 ? rest / middle : 0;
    if (l.first_stage_layers > 0) stage.front() = l.first_stage_layers;
    if (l.last_stage_layers > 0) stage.back() = l.last_stage_layers;
    return stage;
  }
  // As cost::max_stage_layers prices it: ceil(layers / (pp v)) per chunk on the loaded stages;
  // the shortfall comes off the first and last stages (they also hold the embedding and the
  // output layer), then the next ones inwards, keeping at least one layer per chunk.
  const int64_t c = (m.layers + pp * v - 1) / (pp * v);
  for (auto& x : stage) x = c * v;
  int64_t deficit = c * v * pp - m.layers;
  for (int64_t i = 0; i < pp && deficit > 0; i += 2) {
    const size_t lo = size_t(i / 2), hi = size_t(pp - 1 - i / 2);
    const int64_t room_lo = stage[lo] - v, room_hi = lo == hi ? 0 : stage[hi] - v;
    const int64_t take_hi = std::min(room_hi, deficit / 2);
    const int64_t take_lo = std::min(room_lo, deficit - take_hi);
    stage[lo] -= take_lo;
    stage[hi] -= take_hi;
    deficit -= take_lo + take_hi;
  }
  return stage;
}

std::vector<int64_t> chunk_layers(const Model& m, const Layout& l) {
  const int64_t pp = std::max(1, l.pp), v = std::max(1, l.virtual_stages);
  const auto stage = stage_layers(m, l);
  std::vector<int64_t> out(size_t(pp * v), 0);
  for (int64_t r = 0; r < pp; ++r)
    for (int64_t k = 0; k < v; ++k)
      out[size_t(k * pp + r)] = stage[size_t(r)] / v + (k < stage[size_t(r)] % v ? 1 : 0);
  return out;
}

}  // namespace detail

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
