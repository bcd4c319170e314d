#pragma once
// The model's parameter count as the CLI shows it (predict, plan, explain): total, active per
// token (MoE: the routed experts a token skips left out) and the input embedding.
#include <cstdio>
#include <string>

#include <nlohmann/json.hpp>

#include "parplan/cost/flops.hpp"

namespace parplan::cli {

inline nlohmann::json parameters_json(const Model& m) {
  const cost::ParamCount p = cost::count_params(m);
  return {{"total", int64_t(p.total)},
          {"active_per_token", int64_t(p.active)},
          {"embedding", int64_t(p.embedding)}};
}

// "46.70B total, 12.88B active per token, embedding 0.13B"
inline std::string parameters_line(const Model& m) {
  const cost::ParamCount p = cost::count_params(m);
  char buf[160];
  std::snprintf(buf, sizeof buf, "%.2fB total, %.2fB active per token, embedding %.2fB",
                p.total / 1e9, p.active / 1e9, p.embedding / 1e9);
  return buf;
}

}  // namespace parplan::cli
