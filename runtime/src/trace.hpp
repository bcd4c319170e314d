#pragma once
// Chrome trace events ("ph": "X") of one step on one rank, for chrome://tracing or Perfetto.
#include <atomic>
#include <chrono>
#include <mutex>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace parplan::runtime {

using Clock = std::chrono::steady_clock;

inline double seconds_since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

// add() may be called from the DP communication thread as well as the compute thread.
// Tracks (tid): 0 compute, 1 TP/PP communication, 2 DP communication (its own thread).
struct TraceRecorder {
  std::atomic<bool> on{false};
  int rank = 0;
  Clock::time_point origin = Clock::now();
  nlohmann::json events = nlohmann::json::array();

  std::mutex mu;

  void add(const std::string& name, const std::string& cat, Clock::time_point begin,
           Clock::time_point end, int tid = -1) {
    if (!on) return;
    if (tid < 0) tid = cat == "comm" ? 1 : cat == "dp" ? 2 : 0;
    std::lock_guard<std::mutex> lock(mu);
    auto us = [&](Clock::time_point t) {
      return std::chrono::duration<double, std::micro>(t - origin).count();
    };
    events.push_back({{"name", name}, {"cat", cat}, {"ph", "X"}, {"ts", us(begin)},
                      {"dur", us(end) - us(begin)}, {"pid", rank}, {"tid", tid}});
  }
  nlohmann::json to_json() const {
    nlohmann::json meta = {{"name", "process_name"}, {"ph", "M"}, {"pid", rank},
                           {"args", {{"name", "rank " + std::to_string(rank)}}}};
    nlohmann::json all = nlohmann::json::array({meta});
    const char* tracks[] = {"compute", "TP/PP communication", "DP communication"};
    for (int t = 0; t < 3; ++t)
      all.push_back({{"name", "thread_name"}, {"ph", "M"}, {"pid", rank}, {"tid", t},
                     {"args", {{"name", tracks[t]}}}});
    for (auto& e : events) all.push_back(e);
    return {{"traceEvents", all}, {"displayTimeUnit", "ms"}};
  }
};

// Records [construction, destruction) as one event.
struct TraceScope {
  TraceRecorder* t;
  std::string name, cat;
  int tid = -1;
  Clock::time_point begin = Clock::now();
  TraceScope(TraceRecorder* tr, std::string n, std::string c, int track = -1)
      : t(tr), name(std::move(n)), cat(std::move(c)), tid(track) {}
  ~TraceScope() {
    if (t) t->add(name, cat, begin, Clock::now(), tid);
  }
};

}  // namespace parplan::runtime
