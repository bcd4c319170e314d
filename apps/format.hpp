#pragma once
// Human-readable numbers for the CLI tables (units converted only here, at the edge).
#include <cstdio>
#include <string>

namespace parplan::cli {

inline std::string fmt(const char* f, double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, f, v);
  return buf;
}
inline std::string pad(const std::string& s, size_t width) {
  return s.size() >= width ? s : s + std::string(width - s.size(), ' ');
}
inline std::string gib(double bytes) { return fmt("%.2f GiB", bytes / (1024.0 * 1024.0 * 1024.0)); }
inline std::string secs(double s) {
  if (s >= 1.0) return fmt("%.3f s", s);
  if (s >= 1e-3) return fmt("%.2f ms", s * 1e3);
  return fmt("%.1f us", s * 1e6);
}
inline std::string pct(double x) { return fmt("%.1f%%", 100.0 * x); }

}  // namespace parplan::cli
