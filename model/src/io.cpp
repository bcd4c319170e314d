#include "parplan/model/io.hpp"

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "presets.hpp"

namespace parplan {

namespace {
const char* kind_name(InputKind k) {
  switch (k) {
    case InputKind::Model: return "model";
    case InputKind::Cluster: return "cluster";
    case InputKind::Training: return "train";
    case InputKind::Layout: return "layout";
    case InputKind::Plan: return "plan";
  }
  return "input";
}
const char* kind_folder(InputKind k) {
  switch (k) {
    case InputKind::Model: return "models";
    case InputKind::Cluster: return "clusters";
    case InputKind::Training: return "trainings";
    case InputKind::Layout: return "layouts";
    case InputKind::Plan: return "plans";
  }
  return "";
}
std::string join(const std::vector<std::string>& v) {
  std::string s;
  for (const auto& x : v) s += (s.empty() ? "" : ", ") + x;
  return s;
}
template <class T, class F>
T load(InputKind kind, const std::string& spec, std::vector<std::string>* warnings, F parse) {
  nlohmann::json j = resolve_input(kind, spec);
  Diagnostics d;
  T v = parse(j, d);
  if (warnings)
    for (auto& w : d.warnings) warnings->push_back("warning: " + w);
  d.throw_if_errors(std::string(kind_name(kind)) + " '" +
                    (spec.size() > 60 ? spec.substr(0, 57) + "..." : spec) + "'");
  return v;
}
}  // namespace

std::string read_file(const std::string& path) {
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec))
    throw Error("'" + path + "' is a directory; pass a JSON file");
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error("cannot open '" + path + "': no such file or not readable; check the path");
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void write_file_atomic(const std::string& path, const std::string& text) {
  std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    if (!out) throw Error("cannot write '" + path + "': check that its folder exists and is writable");
    out << text;
    if (!out.flush()) throw Error("writing '" + path + "' failed (disk full?)");
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0)
    throw Error("cannot rename '" + tmp + "' to '" + path + "'");
}

nlohmann::json parse_json_text(const std::string& text, const std::string& what) {
  try {
    return nlohmann::json::parse(text);
  } catch (const nlohmann::json::parse_error& e) {
    throw Error("malformed JSON in " + what + " at byte " + std::to_string(e.byte) + ": " +
                e.what() + "; fix the syntax (quotes, commas, braces)");
  } catch (const nlohmann::json::exception& e) {  // e.g. out_of_range 406: number overflow
    throw Error("malformed JSON in " + what + ": " + e.what() + "; use numbers a double can hold");
  }
}

nlohmann::json resolve_input(InputKind kind, const std::string& spec) {
  std::string what = std::string("--") + kind_name(kind);
  size_t first = spec.find_first_not_of(" \t\r\n");
  if (first == std::string::npos)
    throw Error(what + " is empty; pass a preset name, a JSON file or inline JSON");
  if (spec[first] == '{') return parse_json_text(spec, what + " (inline JSON)");
  std::error_code ec;
  if (std::filesystem::exists(spec, ec)) return parse_json_text(read_file(spec), "'" + spec + "'");
  if (const char* text = detail::find_preset(kind_folder(kind), spec))
    return parse_json_text(text, "preset " + spec);
  if (spec.find('/') != std::string::npos || spec.ends_with(".json"))
    throw Error("cannot open '" + spec + "': no such file; check the path");
  throw Error(what + " '" + spec + "' is neither a file nor a preset; presets: " +
              join(preset_names(kind)));
}

std::vector<std::string> preset_names(InputKind kind) {
  return detail::preset_names(kind_folder(kind));
}

const char* find_preset_text(const std::string& folder, const std::string& name) {
  return detail::find_preset(folder, name);
}
std::vector<std::string> preset_names_in(const std::string& folder) {
  return detail::preset_names(folder);
}

Model load_model(const std::string& spec, std::vector<std::string>* w) {
  return load<Model>(InputKind::Model, spec, w,
                     [](const nlohmann::json& j, Diagnostics& d) { return model_from_json(j, d); });
}
Cluster load_cluster(const std::string& spec, std::vector<std::string>* w) {
  return load<Cluster>(InputKind::Cluster, spec, w, [](const nlohmann::json& j, Diagnostics& d) {
    return cluster_from_json(j, d);
  });
}
Training load_training(const std::string& spec, std::vector<std::string>* w) {
  return load<Training>(InputKind::Training, spec, w, [](const nlohmann::json& j, Diagnostics& d) {
    return training_from_json(j, d);
  });
}
Layout load_layout(const std::string& spec, std::vector<std::string>* w) {
  return load<Layout>(InputKind::Layout, spec, w, [](const nlohmann::json& j, Diagnostics& d) {
    return layout_from_json(j, d);
  });
}
Plan load_plan(const std::string& spec, std::vector<std::string>* w) {
  return load<Plan>(InputKind::Plan, spec, w,
                    [](const nlohmann::json& j, Diagnostics& d) { return plan_from_json(j, d); });
}

}  // namespace parplan
