#pragma once
// Small checks the export tests share.
#include <string>

#include "parplan/model/error.hpp"
#include "parplan/planner/export.hpp"

namespace parplan::planner::test {

inline bool has(const std::string& text, const std::string& what) {
  return text.find(what) != std::string::npos;
}

// The message an export refuses the plan with; empty when it exports.
inline std::string refusal(const Plan& p, ExportFormat f) {
  try {
    export_plan(p, f);
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

}  // namespace parplan::planner::test
