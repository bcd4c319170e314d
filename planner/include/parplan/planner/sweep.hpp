#pragma once
// The best plan at each GPU count, with the whole run's time, cost and energy; the Pareto front
// of (time-to-train, cost); a deadline or a budget picks one.
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "parplan/cost/run.hpp"
#include "parplan/planner/search.hpp"

namespace parplan::planner {

struct SweepRow {
  int64_t gpus = 0;
  bool feasible = false;  // some layout fits on this many GPUs
  Candidate best;
  cost::RunCost run;
  bool pareto = false;  // on the front of (wall time, cost)
  std::string reason;   // why there is no plan (when !feasible)
};

struct SweepOptions {
  std::vector<int64_t> gpus;  // counts to try, ascending
  Fixed fixed;
  int threads = 0;
  std::function<void(double fraction_done)> progress;
};

// "64..16384" (powers of two), "8,16,48" (a list); throws parplan::Error naming the text.
std::vector<int64_t> parse_gpu_counts(const std::string& text);

// Searches each count (throws parplan::Error when t.tokens is missing).
std::vector<SweepRow> sweep(const Model& m, const Cluster& c, const Training& t,
                            const SweepOptions& o);

// The money axis of the front: cost when the cluster has a price, else GPU-hours.
double cost_axis(const SweepRow& r);
// Marks rows[i].pareto: no other feasible row is at most as slow and as costly and better in one.
void mark_pareto(std::vector<SweepRow>& rows);

// Index of the cheapest feasible row with wall_s <= deadline_s, or -1.
int pick_deadline(const std::vector<SweepRow>& rows, double deadline_s);
// Index of the fastest feasible row with cost_axis <= budget, or -1.
int pick_budget(const std::vector<SweepRow>& rows, double budget);
// The knee of the Pareto front: the front point farthest from the line through the front's
// ends in log(time), log(cost) space; -1 when the front has fewer than three points.
int knee(const std::vector<SweepRow>& rows);

// explain's cost view: the knee of the front and why it sits there (scaling efficiency of the
// next doubling, exposed communication, pipeline bubble, goodput, memory), with the numbers.
struct CostView {
  int knee = -1;  // index into the rows; -1: the front is too short for a knee
  std::string text;
};
CostView cost_view(const std::vector<SweepRow>& rows);

}  // namespace parplan::planner
