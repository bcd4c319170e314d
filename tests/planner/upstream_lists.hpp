#pragma once
// The upstream flag/key lists of tests/data/upstream/ and helpers that pull the flags or keys out
// of an export, so the tests can check every one of them.
#include <fstream>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace parplan::planner::test {

struct UpstreamList {
  std::string header;  // first comment line: names the upstream commit
  std::set<std::string> items;
};

inline UpstreamList upstream_list(const std::string& name) {
  UpstreamList l;
  std::ifstream in(std::string(PARPLAN_SOURCE_DIR) + "/tests/data/upstream/" + name);
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    if (line[0] == '#') {
      if (l.header.empty()) l.header = line;
      continue;
    }
    l.items.insert(line);
  }
  return l;
}

// "--flag" tokens of a shell command after the word `program` (the launcher's own flags come
// before it; comment lines skipped; quoted values are not flags).
inline std::vector<std::string> flags_of(const std::string& text, const std::string& program) {
  std::vector<std::string> out;
  bool started = false;
  std::istringstream lines(text);
  std::string line;
  while (std::getline(lines, line)) {
    const auto first = line.find_first_not_of(" \t");
    if (first == std::string::npos || line[first] == '#') continue;
    std::istringstream words(line);
    std::string w;
    bool in_quote = false;
    while (words >> w) {
      if (!started) {
        started = w.find(program) != std::string::npos;
        continue;
      }
      if (!in_quote && w.rfind("--", 0) == 0) out.push_back(w.substr(0, w.find('=')));
      for (char c : w)
        if (c == '"') in_quote = !in_quote;
    }
  }
  return out;
}

// The value after `flag` in a command ("" when absent).
inline std::string value_of(const std::string& text, const std::string& flag) {
  const auto at = text.find(flag + " ");
  if (at == std::string::npos) return "";
  std::istringstream rest(text.substr(at + flag.size() + 1));
  std::string v;
  rest >> v;
  return v;
}

// Dotted key paths of a JSON object: {"a": {"b": 1}} -> a, a.b.
inline void key_paths(const nlohmann::json& j, const std::string& prefix, std::vector<std::string>& out) {
  if (!j.is_object()) return;
  for (auto it = j.begin(); it != j.end(); ++it) {
    const std::string path = prefix.empty() ? it.key() : prefix + "." + it.key();
    out.push_back(path);
    key_paths(it.value(), path, out);
  }
}

}  // namespace parplan::planner::test
