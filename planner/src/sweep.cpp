#include "parplan/planner/sweep.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>

namespace parplan::planner {

std::vector<int64_t> parse_gpu_counts(const std::string& text) {
  auto bad = [&](const std::string& why) {
    return Error("--gpus \"" + text.substr(0, 60) + "\": " + why +
                 "; use a range of powers of two (64..16384) or a list (8,16,48)");
  };
  auto number = [&](const std::string& s) -> int64_t {
    if (s.empty() || s.size() > 10 || s.find_first_not_of("0123456789") != std::string::npos)
      throw bad("\"" + s.substr(0, 20) + "\" is not a positive integer");
    int64_t v = std::stoll(s);
    if (v < 1 || v > 100'000'000) throw bad("GPU counts must be between 1 and 100000000");
    return v;
  };
  std::vector<int64_t> out;
  if (text.size() > 4096) throw bad("too long");
  const size_t dots = text.find("..");
  if (dots != std::string::npos) {
    const int64_t lo = number(text.substr(0, dots)), hi = number(text.substr(dots + 2));
    if (lo > hi) throw bad("the range's start is above its end");
    for (int64_t g = lo; g <= hi; g *= 2) out.push_back(g);
  } else {
    size_t start = 0;
    while (start <= text.size()) {
      size_t comma = text.find(',', start);
      if (comma == std::string::npos) comma = text.size();
      out.push_back(number(text.substr(start, comma - start)));
      start = comma + 1;
    }
    std::sort(out.begin(), out.end());
    out.erase(std::unique(out.begin(), out.end()), out.end());
  }
  if (out.size() > 64) throw bad("at most 64 GPU counts per sweep");
  return out;
}

std::vector<SweepRow> sweep(const Model& m, const Cluster& c, const Training& t,
                            const SweepOptions& o) {
  if (!(t.tokens > 0))
    throw Error("train.tokens is missing: a sweep needs the run's token budget "
                "(e.g. \"tokens\": 15.6e12 in the training setup)");
  std::vector<SweepRow> rows;
  for (size_t i = 0; i < o.gpus.size(); ++i) {
    SweepRow row;
    row.gpus = o.gpus[i];
    if (row.gpus > c.total_gpus()) {
      row.reason = "the cluster has " + std::to_string(c.total_gpus()) + " GPUs";
      rows.push_back(row);
      continue;
    }
    SearchOptions so;
    so.gpus = row.gpus;
    so.fixed = o.fixed;
    so.top_k = 1;
    so.threads = o.threads;
    const size_t n = o.gpus.size();
    if (o.progress)
      so.progress = [&, i, n](double f) { o.progress((double(i) + f) / double(n)); };
    try {
      SearchResult r = search(m, c, t, so);
      if (r.top.empty()) {
        row.reason = "no layout fits in memory";
      } else {
        row.feasible = true;
        row.best = r.top.front();
        row.run = cost::run_cost(m, c, t, row.best.layout, row.best.cost);
      }
    } catch (const Error& e) {
      row.reason = e.what();  // e.g. no layout satisfies the divisibility rules at this count
    }
    rows.push_back(row);
  }
  if (o.progress) o.progress(1.0);
  mark_pareto(rows);
  return rows;
}

double cost_axis(const SweepRow& r) { return r.run.cost > 0 ? r.run.cost : r.run.gpu_hours; }

void mark_pareto(std::vector<SweepRow>& rows) {
  for (auto& a : rows) {
    a.pareto = a.feasible;
    if (!a.feasible) continue;
    for (const auto& b : rows) {
      if (&a == &b || !b.feasible) continue;
      const bool no_worse = b.run.wall_s <= a.run.wall_s && cost_axis(b) <= cost_axis(a);
      const bool better = b.run.wall_s < a.run.wall_s || cost_axis(b) < cost_axis(a);
      if (no_worse && better) {
        a.pareto = false;
        break;
      }
    }
  }
}

int pick_deadline(const std::vector<SweepRow>& rows, double deadline_s) {
  int best = -1;
  for (size_t i = 0; i < rows.size(); ++i) {
    const auto& r = rows[i];
    if (!r.feasible || r.run.wall_s > deadline_s) continue;
    if (best < 0 || cost_axis(r) < cost_axis(rows[size_t(best)])) best = int(i);
  }
  return best;
}

int pick_budget(const std::vector<SweepRow>& rows, double budget) {
  int best = -1;
  for (size_t i = 0; i < rows.size(); ++i) {
    const auto& r = rows[i];
    if (!r.feasible || cost_axis(r) > budget) continue;
    if (best < 0 || r.run.wall_s < rows[size_t(best)].run.wall_s) best = int(i);
  }
  return best;
}

int knee(const std::vector<SweepRow>& rows) {
  std::vector<size_t> front;
  for (size_t i = 0; i < rows.size(); ++i)
    if (rows[i].pareto) front.push_back(i);
  if (front.size() < 3) return -1;
  std::sort(front.begin(), front.end(),
            [&](size_t a, size_t b) { return rows[a].run.wall_s < rows[b].run.wall_s; });
  auto pt = [&](size_t i) {
    return std::pair<double, double>{std::log(rows[i].run.wall_s), std::log(cost_axis(rows[i]))};
  };
  const auto [x0, y0] = pt(front.front());
  const auto [x1, y1] = pt(front.back());
  const double len = std::hypot(x1 - x0, y1 - y0);
  if (!(len > 0)) return -1;
  int best = -1;
  double best_d = -1;
  for (size_t k = 1; k + 1 < front.size(); ++k) {
    const auto [x, y] = pt(front[k]);
    const double d = std::abs((x1 - x0) * (y0 - y) - (x0 - x) * (y1 - y0)) / len;
    if (d > best_d) {
      best_d = d;
      best = int(front[k]);
    }
  }
  return best;
}

namespace {
std::string f(const char* fmt, double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, fmt, v);
  return buf;
}
double bubble_share(const SweepRow& r) {
  return r.best.cost.time.pp_bubble / r.best.cost.step_time_s;
}
}  // namespace

CostView cost_view(const std::vector<SweepRow>& rows) {
  CostView v;
  v.knee = knee(rows);
  std::vector<size_t> front;
  for (size_t i = 0; i < rows.size(); ++i)
    if (rows[i].pareto) front.push_back(i);
  std::sort(front.begin(), front.end(), [&](size_t a, size_t b) { return rows[a].gpus < rows[b].gpus; });
  if (front.empty()) {
    v.text = "no GPU count has a plan that fits, so there is no cost front";
    return v;
  }
  const size_t k = v.knee >= 0 ? size_t(v.knee) : front.back();
  const SweepRow& kr = rows[k];
  const bool money = kr.run.cost > 0;
  std::string t = (v.knee >= 0 ? "knee of the (time-to-train, " : "fastest point of the (time-to-train, ") +
                  std::string(money ? "cost" : "GPU-hours") + ") front: " + std::to_string(kr.gpus) +
                  " GPUs, " + f("%.1f", kr.run.wall_s / 86400) + " days, " +
                  (money ? f("%.4g ", kr.run.cost) + kr.run.currency : f("%.4g GPU-hours", kr.run.gpu_hours)) + ".";
  auto step = [&](const SweepRow& a, const SweepRow& b) {
    // From a to b (more GPUs): how much faster, how much dearer, and what grew.
    const double faster = 1 - b.run.wall_s / a.run.wall_s;
    const double dearer = cost_axis(b) / cost_axis(a) - 1;
    const double eff = (a.run.wall_s * double(a.gpus)) / (b.run.wall_s * double(b.gpus));
    return std::to_string(a.gpus) + " -> " + std::to_string(b.gpus) + " GPUs: " +
           f("%.0f%%", 100 * faster) + " less time for " + f("%+.0f%%", 100 * dearer) +
           " cost (scaling efficiency " + f("%.0f%%", 100 * eff) + "; exposed communication " +
           f("%.0f%%", 100 * a.best.cost.exposed_comm_fraction) + " -> " +
           f("%.0f%%", 100 * b.best.cost.exposed_comm_fraction) + " of a step, pipeline bubble " +
           f("%.0f%%", 100 * bubble_share(a)) + " -> " + f("%.0f%%", 100 * bubble_share(b)) +
           ", goodput " + f("%.1f%%", 100 * a.run.goodput.goodput) + " -> " +
           f("%.1f%%", 100 * b.run.goodput.goodput) + ", memory " +
           f("%.0f", a.best.cost.memory.total / 1073741824.0) + " -> " +
           f("%.0f GiB/GPU", b.best.cost.memory.total / 1073741824.0) + ")";
  };
  const auto pos = std::find(front.begin(), front.end(), k);
  if (pos != front.begin()) t += " Below it, " + step(rows[*(pos - 1)], kr) + ".";
  if (pos + 1 != front.end()) t += " Beyond it, " + step(kr, rows[*(pos + 1)]) + ".";
  v.text = t;
  return v;
}

}  // namespace parplan::planner
