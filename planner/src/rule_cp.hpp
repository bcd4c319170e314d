#pragma once
// Internal: the context-parallel-kind rule (R11), kept apart from rules.cpp's R1-R10.
#include "parplan/planner/rules.hpp"

namespace parplan::planner::detail {

// R11 context-parallel-kind: for a plan with cp > 1, which of ring attention, Ulysses and USP the
// practitioners' rule picks, each one's predicted step with the plan's other dimensions, and
// whether the search's choice agrees. `best` may be null (the rule then does not apply).
RuleReport context_parallel_rule(const Model& m, const Cluster& c, const Training& t,
                                 const Candidate* best);

}  // namespace parplan::planner::detail
