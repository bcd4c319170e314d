#pragma once
// Chrome trace events ("ph": "X") of one step on one rank, for chrome://tracing or Perfetto.
#include <chrono>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace parplan::runtime {

using Clock = std::chrono::steady_clock;

inline double seconds_since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

struct TraceRecorder {
  bool on = false;
  int rank = 0;
  Clock::time_point origin = Clock::now();
  nlohmann::json events = nlohmann::json::array();

  void add(const std::string& name, const std::string& cat, Clock::time_point begin,
           Clock::time_point end) {
    if (!on) return;
    auto us = [&](Clock::time_point t) {
      return std::chrono::duration<double, std::micro>(t - origin).count();
    };
    events.push_back({{"name", name}, {"cat", cat}, {"ph", "X"}, {"ts", us(begin)},
                      {"dur", us(end) - us(begin)}, {"pid", rank}, {"tid", cat == "comm" ? 1 : 0}});
  }
  nlohmann::json to_json() const {
    nlohmann::json meta = {{"name", "process_name"}, {"ph", "M"}, {"pid", rank},
                           {"args", {{"name", "rank " + std::to_string(rank)}}}};
    nlohmann::json all = nlohmann::json::array({meta});
    for (auto& e : events) all.push_back(e);
    return {{"traceEvents", all}, {"displayTimeUnit", "ms"}};
  }
};

// Records [construction, destruction) as one event.
struct TraceScope {
  TraceRecorder* t;
  std::string name, cat;
  Clock::time_point begin = Clock::now();
  TraceScope(TraceRecorder* tr, std::string n, std::string c)
      : t(tr), name(std::move(n)), cat(std::move(c)) {}
  ~TraceScope() {
    if (t) t->add(name, cat, begin, Clock::now());
  }
};

}  // namespace parplan::runtime
