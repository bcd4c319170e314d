#include "parplan/planner/sweep.hpp"

#include <algorithm>
#include <cmath>
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

}  // namespace parplan::planner
