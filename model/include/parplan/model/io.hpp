#pragma once
// Reading inputs as the CLI and GUI take them: a preset name, a path to a JSON file, or inline
// JSON text starting with '{'. Errors throw parplan::Error naming the input and the fix.
#include <cstdint>
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

// The largest JSON input read (a cluster, plan or measured file is kilobytes).
constexpr uint64_t kMaxInputBytes = uint64_t(64) << 20;
// A regular file's contents, at most `max_bytes`; a directory, device (/dev/zero), FIFO or a
// bigger file is an Error (nothing is read from it). An I/O failure is an EnvironmentError.
std::string read_file(const std::string& path, uint64_t max_bytes = kMaxInputBytes);
// Writes through a unique temporary sibling + fsync + rename; on any failure the temporary is
// removed. A directory, a missing folder or no permission is an Error (bad path); disk full or
// another I/O failure is an EnvironmentError naming the cause.
void write_file_atomic(const std::string& path, const std::string& text);

}  // namespace parplan
