#pragma once
// The practitioners' decision rules (shared/docs/decision-rules.md) as named, explainable checks.
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "parplan/planner/search.hpp"

namespace parplan::planner {

enum class Verdict { Agrees, Disagrees, NotApplicable };

struct RuleReport {
  std::string id;                                     // "R1".."R10"
  std::string name;                                   // "single-gpu-fits"
  bool fires = false;                                 // the rule's condition holds for this input
  std::string recommendation;                         // what the rule says to do
  Verdict verdict = Verdict::NotApplicable;           // does the search's best plan agree?
  std::string detail;                                 // the numbers behind the verdict
  nlohmann::json numbers = nlohmann::json::object();  // the same numbers, machine-readable
};

struct RuleOptions {
  double slow_link_fraction = 0.10;  // a link is slow when its exposed comm exceeds this of a step
};

// `result` is the search for the same inputs (its best plan is compared with each rule).
std::vector<RuleReport> evaluate_rules(const Model& m, const Cluster& c, const Training& t,
                                       int64_t gpus, const SearchResult& result,
                                       const RuleOptions& o = {});

// R9 and R10 for one plan: effective global batch = dp x micro-batch x accumulation steps,
// learning rate scaled by sqrt(effective / base_batch) (train.base_batch 0: the training file's
// global batch, which its learning rate was set for; a heuristic), and the exposed-communication
// fraction. R6 and R10 also compare with the best layout on up to the given GPUs and disagree
// when fewer GPUs are faster. As JSON: {"effective_global_batch", "accumulation_steps",
// "scaled_learning_rate", "exposed_comm_fraction"}.
struct PlanScaling {
  int64_t accumulation_steps = 0;
  int64_t effective_global_batch = 0;
  int64_t base_batch = 0;
  double scaled_learning_rate = 0;
  double exposed_comm_fraction = 0;
};
PlanScaling plan_scaling(const Training& t, const Candidate& c);
nlohmann::json to_json(const PlanScaling& s);

nlohmann::json to_json(const RuleReport& r);
// "R8 tp-within-node [agrees]: keep tensor parallelism inside a node ...\n    best plan tp=8 ..."
std::string describe(const RuleReport& r);
const char* to_string(Verdict v);

}  // namespace parplan::planner
