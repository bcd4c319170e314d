#pragma once
// A plan as framework arguments and launch lines.
#include <string>

#include "parplan/model/plan.hpp"

namespace parplan::planner {

enum class ExportFormat { Megatron, DeepSpeed, Torchrun, Mpiexec, Srun };
bool parse_export_format(const std::string& s, ExportFormat& out);

// Megatron-LM arguments, a DeepSpeed config JSON, or a launch line for `parplan run`.
std::string export_plan(const Plan& p, ExportFormat f);

}  // namespace parplan::planner
