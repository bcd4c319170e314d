#pragma once
// A plan: the inputs, the chosen layout and its prediction (kept as JSON so model/ does not
// depend on cost/).
#include <nlohmann/json.hpp>

#include "parplan/model/cluster.hpp"
#include "parplan/model/layout.hpp"
#include "parplan/model/model.hpp"
#include "parplan/model/training.hpp"

namespace parplan {

struct Plan {
  Model model;
  Cluster cluster;
  Training training;
  Layout layout;
  nlohmann::json prediction = nlohmann::json::object();  // cost::to_json(StepCost)
  nlohmann::json rules = nlohmann::json::array();        // planner rule reports, if any
};

nlohmann::json to_json(const Plan& p);
Plan plan_from_json(const nlohmann::json& j, Diagnostics& d);

}  // namespace parplan
