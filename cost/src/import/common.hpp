#pragma once
// Shared pieces of the log readers (cost/src/import/*.cpp): lines, key/value parsing, the checks
// every reader makes (world size, layout against the model).
#include <map>
#include <string>
#include <vector>

#include "parplan/cost/import.hpp"

namespace parplan::cost::import_detail {

[[noreturn]] void fail(const ImportOptions& o, const std::string& what);

std::vector<std::string> split_lines(const std::string& text);
std::string trim(const std::string& s);
bool starts_with(const std::string& s, const std::string& prefix);

// The number after `key` in `line` (e.g. "elapsed time per iteration (ms): "); false if absent
// or not a number. Thousands separators (",") are skipped.
bool number_after(const std::string& line, const std::string& key, double& out);

// Arguments printed as `name ..... value` (Megatron _print_args, DeepSpeed DeepSpeedConfig.print)
// or a flat TOML / JSON config, as strings.
struct Args {
  std::map<std::string, std::string> values;
  std::string what;  // "the arguments block of run.log", for messages
  bool has(const std::string& k) const;
  // "None" / "null" / absent: false.
  bool present(const std::string& k) const;
  std::string str(const std::string& k, const std::string& fallback = "") const;
  bool flag(const std::string& k, bool fallback = false) const;
  // An integer; throws naming the key when absent (unless fallback given) or malformed.
  int64_t integer(const ImportOptions& o, const std::string& k) const;
  int64_t integer(const ImportOptions& o, const std::string& k, int64_t fallback) const;
  double real(const ImportOptions& o, const std::string& k, double fallback) const;
};

// World size against dp * tp * pp * cp; the one message for a log whose layout disagrees.
void check_world(const ImportOptions& o, const ImportedRun& r, const std::string& layout_source);
// --model replaces the log's model; the cluster must be given; the layout must be valid on them.
void finish(const ImportOptions& o, ImportedRun& r);

}  // namespace parplan::cost::import_detail
