#pragma once
// CLI11 validators for numeric options: finite (no nan/inf) and inside a range, with a message that
// names the range. CLI11's own Range lets "nan" through (every comparison with NaN is false).
#include <cmath>
#include <sstream>
#include <string>

#include <CLI/CLI.hpp>

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
