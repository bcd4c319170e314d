#pragma once
// Inputs shared by the planner tests: presets from examples/ (compiled into parplan_model).
#include "../support/preset_plan.hpp"
#include "parplan/model/io.hpp"

namespace parplan::planner::test {

struct Inputs {
  Model m;
  Cluster c;
  Training t;
};

inline Inputs presets(const std::string& model, const std::string& cluster,
                      const std::string& train) {
  return {load_model(model), load_cluster(cluster), load_training(train)};
}
// GPT-2 124M on DGX A100 nodes, global batch 512 x 1024: a space small enough to brute-force.
inline Inputs gpt2() {
  return presets("gpt2-124m", "dgx-a100-80g", "gpt2-512");
}
inline Inputs gpt3() {
  return presets("gpt3-175b", "dgx-a100-80g", "gpt3-1536");
}
// GPT-3 175B as gpt3() gives it, with a layout.
inline Plan gpt3_plan(const Layout& l) {
  return parplan::test::preset_plan("gpt3-175b", "dgx-a100-80g", "gpt3-1536", l);
}

}  // namespace parplan::planner::test
