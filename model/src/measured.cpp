#include "parplan/model/measured.hpp"

#include <algorithm>

#include "json_reader.hpp"
#include "parplan/model/io.hpp"

namespace parplan {

MeasuredRun measured_from_json(const nlohmann::json& j, const std::string& stat,
                               const std::string& path, Diagnostics& d) {
  MeasuredRun m;
  m.path = path;
  if (stat != "mean" && stat != "median" && stat != "min") {
    d.error("--stat", "unknown statistic \"" + brief(stat) + "\"; use mean, median or min");
    return m;
  }
  detail::ObjectReader r(j, d, "measured");
  if (!r.ok()) return m;
  if (!r.has("mean_step_time_s")) {
    d.error("measured", "not a measured.json from `parplan run` (no mean_step_time_s)");
    return m;
  }
  constexpr double kDay = 86400, kHuge = 1e300;
  double mean = 0;
  r.number("mean_step_time_s", mean, true, 0, kDay);
  const std::string key = stat + "_step_time_s";
  if (!r.has(key.c_str()))
    d.error("measured." + key, "is missing (this file has no " + stat +
                                   " step time); use --stat mean, or a newer measured.json");
  else
    r.number(key.c_str(), m.step_time_s, true, 0, kDay);
  r.number("tokens_per_s", m.tokens_per_s, false, 0, kHuge, 1.0, true);
  r.number("mfu", m.mfu, false, 0, 1e3, 1.0, true);
  if (r.has("peak_memory_bytes")) {
    const auto& a = j["peak_memory_bytes"];
    if (!a.is_array()) {
      d.error("measured.peak_memory_bytes", "must be an array of byte counts, got " +
                                                detail::ObjectReader::describe(a));
    } else {
      for (size_t i = 0; i < a.size(); ++i) {
        if (!a[i].is_number() || !(a[i].get<double>() >= 0) || a[i].get<double>() > kHuge) {
          d.error("measured.peak_memory_bytes[" + std::to_string(i) + "]",
                  "must be a byte count >= 0, got " + detail::ObjectReader::describe(a[i]));
          break;
        }
        m.memory_bytes = std::max(m.memory_bytes, a[i].get<double>());
      }
    }
  }
  r.string("memory_kind", m.memory_kind, false);
  m.model_state_only = m.memory_kind == "model_state";
  if (const auto* p = r.object("plan", false)) {
    m.plan = plan_from_json(*p, d);
    m.has_plan = true;
  }
  if (d.ok() && m.step_time_s > 0 && mean > 0) {  // tokens/s and MFU of the chosen statistic
    m.tokens_per_s *= mean / m.step_time_s;
    m.mfu *= mean / m.step_time_s;
  }
  return m;
}

MeasuredRun load_measured(const std::string& path, const std::string& stat) {
  auto j = parse_json_text(read_file(path), "'" + brief(path, 200) + "'");
  Diagnostics d;
  auto m = measured_from_json(j, stat, path, d);
  d.throw_if_errors("measured run '" + brief(path, 200) + "'");
  return m;
}

}  // namespace parplan
