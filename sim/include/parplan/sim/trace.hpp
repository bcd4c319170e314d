#pragma once
// Chrome / Perfetto trace-event JSON of a simulated step: one track per GPU (compute and the
// communication it waits for) and one counter track per link class (flows in flight).
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace parplan::sim {

struct TraceEvent {
  std::string name;   // "fwd mb3 c0", "tp all-reduce", "pp recv", ...
  std::string cat;    // compute, tp, cp, pp, dp, bubble, optimizer
  int64_t track = 0;  // GPU rank
  double start_s = 0, end_s = 0;
};

struct TraceCounter {
  std::string track;  // link class: "intra", "inter"
  double time_s = 0;
  double value = 0;  // flows in flight
};

class Trace {
 public:
  bool enabled = false;
  void event(TraceEvent e) {
    if (enabled) events_.push_back(std::move(e));
  }
  void counter(const std::string& track, double t, double v) {
    if (enabled) counters_.push_back({track, t, v});
  }
  const std::vector<TraceEvent>& events() const { return events_; }
  // {"traceEvents": [...], "displayTimeUnit": "ms"}; times in microseconds.
  nlohmann::json to_json() const;

 private:
  std::vector<TraceEvent> events_;
  std::vector<TraceCounter> counters_;
};

}  // namespace parplan::sim
