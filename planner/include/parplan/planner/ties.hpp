#pragma once
// Statistical ties: the best plans whose prediction intervals overlap the best one's cannot be
// told apart by the cost model; among them the simplest layout is shown first.
#include <string>
#include <vector>

#include "parplan/cost/intervals.hpp"
#include "parplan/planner/search.hpp"

namespace parplan::planner {

// Parallel dimensions in use: how many of dp, tp, pp, cp, ep are > 1.
int parallel_dimensions(const Layout& l);

struct TieOrder {
  std::vector<size_t> order;  // indices into the candidates, in the order to show them
  size_t tied = 1;            // the first `tied` of `order` are a statistical tie with the best
};
// candidates: ranked best first; intervals[i] belongs to candidates[i]. Tied: step-time interval
// overlapping the best one's. Among the tied: fewest parallel dimensions, then predicted step.
TieOrder order_ties(const std::vector<Candidate>& candidates,
                    const std::vector<cost::Interval>& intervals);

}  // namespace parplan::planner
