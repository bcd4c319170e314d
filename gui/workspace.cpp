#include "workspace.hpp"

#include "parplan/model/io.hpp"

namespace parplan::gui {

nlohmann::json to_json(const Workspace& w) {
  nlohmann::json measured = nlohmann::json::array();
  for (const auto& r : w.measured) measured.push_back({{"source", r.source}, {"data", r.raw}});
  return {{"parplan_workspace", 1},
          {"model", parplan::to_json(w.model)},
          {"cluster", parplan::to_json(w.cluster)},
          {"train", parplan::to_json(w.training)},
          {"gpus", w.gpus},
          {"layout", parplan::to_json(w.layout)},
          {"measured", measured}};
}

Workspace workspace_from_json(const nlohmann::json& j) {
  if (!j.is_object() || !j.contains("parplan_workspace"))
    throw Error("not a parplan workspace (no \"parplan_workspace\" key); save one from the GUI");
  Diagnostics d;
  Workspace w;
  auto section = [&](const char* key) -> const nlohmann::json* {
    if (j.contains(key) && j[key].is_object()) return &j[key];
    d.error(std::string("workspace.") + key, "missing or not an object");
    return nullptr;
  };
  if (const auto* v = section("model")) w.model = model_from_json(*v, d, "workspace.model");
  if (const auto* v = section("cluster")) w.cluster = cluster_from_json(*v, d, "workspace.cluster");
  if (const auto* v = section("train")) w.training = training_from_json(*v, d, "workspace.train");
  if (const auto* v = section("layout")) w.layout = layout_from_json(*v, d, "workspace.layout");
  if (j.contains("gpus") && j["gpus"].is_number_integer())
    w.gpus = j["gpus"].get<int64_t>();
  else
    w.gpus = w.cluster.total_gpus();
  d.throw_if_errors("workspace");
  if (j.contains("measured") && j["measured"].is_array())
    for (const auto& m : j["measured"]) {
      if (!m.is_object() || !m.contains("data"))
        throw Error("workspace.measured: each entry needs \"source\" and \"data\"");
      w.measured.push_back(
          measured_from_json(m["data"], m.value("source", std::string("measured"))));
    }
  return w;
}

void save_workspace(const Workspace& w, const std::string& path) {
  write_file_atomic(path, to_json(w).dump(2) + "\n");
}

Workspace load_workspace(const std::string& path) {
  return workspace_from_json(parse_json_text(read_file(path), path));
}

}  // namespace parplan::gui
