// A search result as a Plan: the inputs, the chosen layout, its prediction and the rule reports.
#include "parplan/planner/plan.hpp"

namespace parplan::planner {

Plan make_plan(const Model& m, const Cluster& c, const Training& t, const Candidate& best,
               const std::vector<RuleReport>& rules) {
  Plan p;
  p.model = m;
  p.cluster = c;
  p.training = t;
  p.layout = best.layout;
  p.prediction = cost::to_json(best.cost);
  p.rules = nlohmann::json::array();
  for (const auto& r : rules) p.rules.push_back(to_json(r));
  return p;
}

}  // namespace parplan::planner
