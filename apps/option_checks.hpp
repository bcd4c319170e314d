#pragma once
// CLI11 validators for numeric options: finite (no nan/inf) and inside a range, with a message that
// names the range. CLI11's own Range lets "nan" through (every comparison with NaN is false).
#include <algorithm>
#include <cctype>
#include <cmath>
#include <thread>
#include <vector>
#include <sstream>
#include <string>

#include <CLI/CLI.hpp>

#include "parplan/model/error.hpp"

namespace parplan::cli {

inline CLI::Validator finite_range(double lo, double hi, bool lo_inclusive = true) {
  std::ostringstream desc;
  desc << (lo_inclusive ? "[" : "(") << lo << ", " << hi << "]";
  return CLI::Validator(
      [lo, hi, lo_inclusive](std::string& s) -> std::string {
        double v = 0;
        try {
          size_t used = 0;
          v = std::stod(s, &used);
          if (used != s.size()) return "'" + s + "' is not a number";
        } catch (const std::exception&) {
          return "'" + s + "' is not a number";
        }
        std::ostringstream range;
        range << (lo_inclusive ? ">= " : "> ") << lo << " and <= " << hi;
        if (!std::isfinite(v) || (lo_inclusive ? v < lo : v <= lo) || v > hi)
          return "must be a finite number " + range.str() + ", got " + s;
        return {};
      },
      desc.str());
}

// --threads of every command: 0 (all cores) up to this machine's cores, so plan, sweep, explain
// and run accept and refuse the same values.
inline CLI::Validator threads_range() {
  const long long cores = std::max(1u, std::thread::hardware_concurrency());
  return CLI::Validator(
      [cores](std::string& s) -> std::string {
        try {
          size_t used = 0;
          long long v = std::stoll(s, &used);
          if (used == s.size() && v >= 0 && v <= cores) return {};
        } catch (const std::exception&) {
        }
        return "must be 0 (all cores) or 1 to " + std::to_string(cores) +
               " (this machine's cores), got " + s;
      },
      "[0, cores]");
}

// --fix naming one dimension twice (tp=8,tp=4) is a contradiction, not "the last one wins".
inline void check_fix_repeats(const std::string& fix) {
  auto canonical = [](std::string k) {
    for (auto& ch : k) ch = char(std::tolower(static_cast<unsigned char>(ch)));
    if (k == "micro_batch") return std::string("mb");
    if (k == "virtual_stages") return std::string("v");
    if (k == "rc") return std::string("recompute");
    if (k == "sequence_parallel") return std::string("sp");
    if (k == "shard") return std::string("shard_group");
    return k;
  };
  std::vector<std::string> seen;
  size_t start = 0;
  while (start <= fix.size()) {
    size_t comma = fix.find(',', start);
    std::string item = fix.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
    start = comma == std::string::npos ? fix.size() + 1 : comma + 1;
    size_t eq = item.find('=');
    if (eq == std::string::npos) continue;  // parse_fixed names the malformed item
    std::string key = item.substr(0, eq);
    key.erase(0, key.find_first_not_of(" \t"));
    key.erase(key.find_last_not_of(" \t") + 1);
    key = canonical(key);
    if (std::find(seen.begin(), seen.end(), key) != seen.end())
      throw parplan::Error("--fix names " + key.substr(0, 40) +
                           " twice; give each dimension once (e.g. --fix tp=8,pp=4)");
    seen.push_back(key);
  }
}

// Integers: CLI11 already rejects non-integers for integer options; this adds the range.
inline CLI::Validator int_range(long long lo, long long hi) {
  return CLI::Validator(
      [lo, hi](std::string& s) -> std::string {
        try {
          size_t used = 0;
          long long v = std::stoll(s, &used);
          if (used != s.size()) return "'" + s + "' is not an integer";
          if (v < lo || v > hi)
            return "must be between " + std::to_string(lo) + " and " + std::to_string(hi) +
                   ", got " + s;
        } catch (const std::exception&) {
          return "'" + s + "' is not an integer between " + std::to_string(lo) + " and " +
                 std::to_string(hi);
        }
        return {};
      },
      "[" + std::to_string(lo) + ", " + std::to_string(hi) + "]");
}

}  // namespace parplan::cli
