#pragma once
// A plan from the shipped presets (examples/models, clusters, trainings: a name, or for the
// training also a JSON text) and a layout, as the bench programs and the simulation tests build
// theirs; a caller adjusts the model, cluster or training afterwards where a case needs it.
#include <string>

#include "parplan/model/io.hpp"
#include "parplan/model/plan.hpp"

namespace parplan::test {

inline Plan preset_plan(const std::string& model, const std::string& cluster,
                        const std::string& training, const Layout& layout) {
  Plan p;
  p.model = load_model(model);
  p.cluster = load_cluster(cluster);
  p.training = load_training(training);
  p.layout = layout;
  return p;
}

}  // namespace parplan::test
