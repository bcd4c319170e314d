#include "parplan/sim/trace.hpp"

#include <map>
#include <set>

namespace parplan::sim {

nlohmann::json Trace::to_json() const {
  constexpr double us = 1e6;
  nlohmann::json ev = nlohmann::json::array();
  ev.push_back({{"name", "process_name"}, {"ph", "M"}, {"pid", 0}, {"args", {{"name", "GPUs"}}}});
  ev.push_back({{"name", "process_name"}, {"ph", "M"}, {"pid", 1}, {"args", {{"name", "links"}}}});
  std::set<int64_t> tracks;
  for (const auto& e : events_) tracks.insert(e.track);
  for (int64_t t : tracks)
    ev.push_back({{"name", "thread_name"},
                  {"ph", "M"},
                  {"pid", 0},
                  {"tid", t},
                  {"args", {{"name", "gpu " + std::to_string(t)}}}});
  for (const auto& e : events_)
    ev.push_back({{"name", e.name},
                  {"cat", e.cat},
                  {"ph", "X"},
                  {"pid", 0},
                  {"tid", e.track},
                  {"ts", e.start_s * us},
                  {"dur", (e.end_s - e.start_s) * us}});
  for (const auto& c : counters_)
    ev.push_back({{"name", c.track},
                  {"ph", "C"},
                  {"pid", 1},
                  {"ts", c.time_s * us},
                  {"args", {{"flows", c.value}}}});
  return {{"traceEvents", ev}, {"displayTimeUnit", "ms"}};
}

}  // namespace parplan::sim
