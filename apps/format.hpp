#pragma once
// Human-readable numbers for the CLI tables (units converted only here, at the edge).
#include <cstdio>
#include <string>

#include <nlohmann/json.hpp>

#include "parplan/cost/fp8.hpp"

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

// The MFU convention, stated wherever MFU is printed (docs/design.md "MFU"): model FLOPs against
// the dense peak of the dtype the GEMMs run in (FP8 runs: the FP8 peak), so never above 100%.
inline std::string mfu_peak_text(const Cluster& c, const Training& t) {
  return "of the " + std::string(to_string(cost::linear_gemm_dtype(t))) + " dense peak, " +
         fmt("%.0f", cost::utilization_peak_flops(c.gpu, t) / 1e12) + " TFLOP/s per GPU";
}
inline nlohmann::json mfu_peak_json(const Cluster& c, const Training& t) {
  return {{"dtype", to_string(cost::linear_gemm_dtype(t))},
          {"tflops_per_gpu", cost::utilization_peak_flops(c.gpu, t) / 1e12},
          {"convention", "model FLOPs / (step time x GPUs x the dense peak of the GEMM dtype)"}};
}

}  // namespace parplan::cli
