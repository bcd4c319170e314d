#pragma once
// Builds a Plan (inputs + chosen layout + prediction + rules) from a search result.
#include <vector>

#include "parplan/model/plan.hpp"
#include "parplan/planner/rules.hpp"
#include "parplan/planner/search.hpp"

namespace parplan::planner {

Plan make_plan(const Model& m, const Cluster& c, const Training& t, const Candidate& best,
               const std::vector<RuleReport>& rules = {});

}  // namespace parplan::planner
