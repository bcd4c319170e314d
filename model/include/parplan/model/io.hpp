#pragma once
// Reading inputs as the CLI and GUI take them: a preset name, a path to a JSON file, or inline
// JSON text starting with '{'. Errors throw parplan::Error naming the input and the fix.
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "parplan/model/plan.hpp"

namespace parplan {

enum class InputKind { Model, Cluster, Training, Layout, Plan };

// Parses text as JSON; a syntax error names `what` and the byte offset.
nlohmann::json parse_json_text(const std::string& text, const std::string& what);
// Resolves preset / file / inline JSON to a JSON value.
nlohmann::json resolve_input(InputKind kind, const std::string& spec);

// Loaders: resolve, parse, validate; warnings (unknown keys) are appended to `warnings`.
Model load_model(const std::string& spec, std::vector<std::string>* warnings = nullptr);
Cluster load_cluster(const std::string& spec, std::vector<std::string>* warnings = nullptr);
Training load_training(const std::string& spec, std::vector<std::string>* warnings = nullptr);
Layout load_layout(const std::string& spec, std::vector<std::string>* warnings = nullptr);
Plan load_plan(const std::string& spec, std::vector<std::string>* warnings = nullptr);

// Preset names compiled into the binary from examples/ (models, clusters, trainings).
std::vector<std::string> preset_names(InputKind kind);
// Any compiled-in examples/<folder>/<name>.json (e.g. folder "frameworks"): its text, or nullptr.
const char* find_preset_text(const std::string& folder, const std::string& name);
std::vector<std::string> preset_names_in(const std::string& folder);

std::string read_file(const std::string& path);                 // throws Error if unreadable
void write_file_atomic(const std::string& path, const std::string& text);  // temp + rename

}  // namespace parplan
