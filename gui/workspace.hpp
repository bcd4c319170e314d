#pragma once
// The whole what-if session as one JSON file: inputs, GPU count, layout and the loaded
// measurements. No Qt.
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "measured.hpp"
#include "parplan/model/cluster.hpp"
#include "parplan/model/layout.hpp"
#include "parplan/model/model.hpp"
#include "parplan/model/training.hpp"

namespace parplan::gui {

struct Workspace {
  Model model;
  Cluster cluster;
  Training training;
  int64_t gpus = 0;  // GPUs the layout may use (<= cluster.total_gpus())
  Layout layout;
  std::vector<MeasuredRun> measured;
};

// {"parplan_workspace": 1, "model": {...}, "cluster": {...}, "train": {...}, "gpus": N,
//  "layout": {...}, "measured": [{"source": "...", "data": {measured.json}}]}
nlohmann::json to_json(const Workspace& w);
// Throws parplan::Error listing every problem. The layout is read but not checked against the
// inputs (the window shows what is wrong with it).
Workspace workspace_from_json(const nlohmann::json& j);

void save_workspace(const Workspace& w, const std::string& path);
Workspace load_workspace(const std::string& path);

}  // namespace parplan::gui
