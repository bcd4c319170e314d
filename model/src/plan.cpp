#include "parplan/model/plan.hpp"

#include "json_reader.hpp"

namespace parplan {

nlohmann::json to_json(const Plan& p) {
  nlohmann::json j = {{"model", to_json(p.model)},
                      {"cluster", to_json(p.cluster)},
                      {"train", to_json(p.training)},
                      {"layout", to_json(p.layout)}};
  if (!p.prediction.empty()) j["prediction"] = p.prediction;
  if (!p.rules.empty()) j["rules"] = p.rules;
  return j;
}

Plan plan_from_json(const nlohmann::json& j, Diagnostics& d) {
  Plan p;
  detail::ObjectReader r(j, d, "plan");
  if (const auto* v = r.object("model", true)) p.model = model_from_json(*v, d, "plan.model");
  if (const auto* v = r.object("cluster", true)) p.cluster = cluster_from_json(*v, d, "plan.cluster");
  if (const auto* v = r.object("train", true)) p.training = training_from_json(*v, d, "plan.train");
  if (const auto* v = r.object("layout", true)) p.layout = layout_from_json(*v, d, "plan.layout");
  // Kept as JSON (copied, later dumped): bounded depth, checked without recursion.
  constexpr size_t kMaxDepth = 32;
  if (const auto* v = r.object("prediction", false)) {
    if (detail::nested_deeper_than(*v, kMaxDepth))
      d.error("plan.prediction", "nests deeper than " + std::to_string(kMaxDepth) + " levels; regenerate the plan");
    else
      p.prediction = *v;
  }
  r.skip("rules");
  if (j.is_object() && j.contains("rules") && j["rules"].is_array()) {
    if (detail::nested_deeper_than(j["rules"], kMaxDepth))
      d.error("plan.rules", "nests deeper than " + std::to_string(kMaxDepth) + " levels; regenerate the plan");
    else
      p.rules = j["rules"];
  }
  r.skip("evaluated");
  r.skip("feasible");
  r.skip("search_time_s");
  r.warn_unknown();
  if (d.ok()) validate(p.layout, p.model, p.cluster, p.training, d, "plan.layout");
  return p;
}

}  // namespace parplan
