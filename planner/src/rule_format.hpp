#pragma once
// Internal: the number formats and report helpers shared by the decision rules (rules.cpp,
// rule_cp.cpp, rule_schedule.cpp, rules_moe.cpp), so that every rule prints seconds, GiB and
// percentages the same way.
#include <cstdio>
#include <string>

#include "parplan/planner/rules.hpp"

namespace parplan::planner::detail {

inline std::string fmt(const char* f, double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, f, v);
  return buf;
}
inline std::string gib(double bytes) {
  return fmt("%.1f GiB", bytes / (1024.0 * 1024.0 * 1024.0));
}
inline std::string secs(double s) {
  return fmt("%.3f s", s);
}
inline std::string pct(double f) {
  return fmt("%.1f%%", 100.0 * f);
}

inline RuleReport make_report(const char* id, const char* name) {
  RuleReport r;
  r.id = id;
  r.name = name;
  return r;
}

inline void set_verdict(RuleReport& r, bool agrees) {
  r.verdict = agrees ? Verdict::Agrees : Verdict::Disagrees;
}

// A rule that applies only to plans with a dimension > 1: the detail when it does not fire.
inline void not_firing(RuleReport& r, const Candidate* best, const char* dimension_absent) {
  r.detail = best ? dimension_absent : "the search found no layout that fits";
}

}  // namespace parplan::planner::detail
