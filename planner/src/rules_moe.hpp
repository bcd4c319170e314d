#pragma once
// Internal: the MoE rules of `explain` (rules_moe.cpp), appended by evaluate_rules for MoE models.
#include <vector>

#include "parplan/planner/rules.hpp"

namespace parplan::planner::detail {

void append_moe_rules(const Model& m, const Cluster& c, const Training& t,
                      const SearchResult& result, const RuleOptions& o,
                      std::vector<RuleReport>& out);

}  // namespace parplan::planner::detail
