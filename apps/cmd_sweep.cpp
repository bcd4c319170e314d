// `parplan sweep`: the best plan at each GPU count with the whole run's time, cost and energy,
// the Pareto front of (time-to-train, cost), and the pick for a deadline or a budget.
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <iostream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "commands.hpp"
#include "format.hpp"
#include "inputs.hpp"
#include "option_checks.hpp"
#include "progress.hpp"
#include "run_format.hpp"
#include "parplan/model/io.hpp"
#include "parplan/planner/sweep.hpp"

namespace parplan::cli {

namespace {

struct SweepArgs {
  std::string model, cluster, train, gpus, fix, deadline;
  double tokens = 0;
  double budget = 0;
  int threads = 0;
  bool json = false, csv = false;
};

std::string row_cells(const planner::SweepRow& r, char sep, bool csv) {
  std::ostringstream o;
  if (!r.feasible) {
    o << r.gpus << sep << (csv ? "" : "-") << sep << r.reason;
    return o.str();
  }
  const auto& c = r.best.cost;
  o << r.gpus << sep << describe(r.best.layout) << sep << fmt("%.3f", c.step_time_s) << sep
    << fmt("%.0f", c.tokens_per_s) << sep << fmt("%.1f", 100 * c.mfu) << sep
    << fmt("%.1f", r.run.wall_s / 86400) << sep << fmt("%.0f", r.run.gpu_hours) << sep
    << fmt("%.0f", r.run.cost) << sep << fmt("%.1f", r.run.energy_kWh / 1000) << sep
    << fmt("%.3f", r.run.goodput.goodput) << sep << (r.pareto ? "yes" : "no");
  return o.str();
}

void print_table(const std::vector<planner::SweepRow>& rows, const std::string& currency) {
  std::printf("%6s  %-60s %8s %11s %6s %8s %10s %12s %9s %7s %s\n", "gpus", "best layout",
              "step_s", "tokens/s", "MFU%", "days", "GPU-h", ("cost " + currency).c_str(), "MWh",
              "goodput", "pareto");
  for (const auto& r : rows) {
    if (!r.feasible) {
      std::printf("%6lld  (no plan: %s)\n", (long long)r.gpus, r.reason.substr(0, 120).c_str());
      continue;
    }
    const auto& c = r.best.cost;
    std::printf("%6lld  %-60s %8.3f %11.0f %6.1f %8.1f %10.3g %12.4g %9.4g %7.3f %s\n",
                (long long)r.gpus, describe(r.best.layout).substr(0, 60).c_str(), c.step_time_s,
                c.tokens_per_s, 100 * c.mfu, r.run.wall_s / 86400, r.run.gpu_hours, r.run.cost,
                r.run.energy_kWh / 1000, r.run.goodput.goodput, r.pareto ? "*" : "");
  }
}

nlohmann::json rows_json(const std::vector<planner::SweepRow>& rows) {
  nlohmann::json out = nlohmann::json::array();
  for (const auto& r : rows) {
    nlohmann::json j = {{"gpus", r.gpus}, {"pareto", r.pareto}, {"feasible", r.feasible}};
    if (r.feasible) {
      j["layout"] = to_json(r.best.layout);
      j["prediction"] = cost::to_json(r.best.cost);
      j["prediction"]["run"] = cost::to_json(r.run);
    } else {
      j["reason"] = r.reason;
    }
    out.push_back(j);
  }
  return out;
}

void run_sweep(const SweepArgs& a) {
  if (a.json && a.csv) throw Error("--json and --csv both given; choose one output format");
  check_fix_repeats(a.fix);
  std::vector<std::string> warnings;
  Model m = load_model(a.model, &warnings);
  Cluster c = load_cluster(a.cluster, &warnings);
  Training t = load_training(a.train, &warnings);
  print_warnings(warnings);
  apply_tokens(t, a.tokens);
  if (!(t.tokens > 0))
    throw Error("sweep needs the run's token budget: add \"tokens\" to the training setup or "
                "pass --tokens (e.g. --tokens 15.6e12)");
  if (!a.deadline.empty() && a.budget > 0)
    throw Error("--deadline and --budget pick in opposite ways; give one of them");
  if (a.budget < 0 || !std::isfinite(a.budget))
    throw Error("--budget must be > 0 (in the cluster's currency, or GPU-hours without a price)");
  const double deadline_s = a.deadline.empty() ? 0 : cost::parse_duration(a.deadline, "--deadline");
  planner::SweepOptions so;
  so.gpus = planner::parse_gpu_counts(a.gpus);
  so.fixed = planner::parse_fixed(a.fix);
  so.threads = a.threads;
  bool shown = false;
  so.progress = progress_bar(shown, "sweeping");
  std::vector<planner::SweepRow> rows = planner::sweep(m, c, t, so);
  if (shown) std::fprintf(stderr, "\n");
  const bool any = std::any_of(rows.begin(), rows.end(), [](auto& r) { return r.feasible; });
  if (!any)
    throw Error("no GPU count of " + a.gpus + " has a layout of " + m.name +
                " that fits; try larger counts or loosen --fix");
  int pick = -1;
  std::string pick_what;
  if (deadline_s > 0) {
    pick = planner::pick_deadline(rows, deadline_s);
    if (pick < 0) {
      const auto fastest = *std::min_element(rows.begin(), rows.end(), [](auto& x, auto& y) {
        return x.feasible && (!y.feasible || x.run.wall_s < y.run.wall_s);
      });
      throw Error("no plan finishes within --deadline " + a.deadline + ": the fastest, on " +
                  std::to_string(fastest.gpus) + " GPUs, takes " +
                  cost::human_duration(fastest.run.wall_s) +
                  "; extend the deadline or sweep more GPUs");
    }
    pick_what = "cheapest plan within the deadline " + a.deadline;
  } else if (a.budget > 0) {
    pick = planner::pick_budget(rows, a.budget);
    if (pick < 0) {
      const auto cheapest = *std::min_element(rows.begin(), rows.end(), [](auto& x, auto& y) {
        return x.feasible && (!y.feasible || planner::cost_axis(x) < planner::cost_axis(y));
      });
      throw Error("no plan fits --budget " + fmt("%g", a.budget) + ": the cheapest, on " +
                  std::to_string(cheapest.gpus) + " GPUs, costs " +
                  fmt("%.4g", planner::cost_axis(cheapest)) + "; raise the budget");
    }
    pick_what = "fastest plan within the budget " + fmt("%g", a.budget);
  }
  const std::string currency = c.economics.price_per_gpu_hour > 0 ? c.economics.currency : "-";
  if (a.json) {
    nlohmann::json j = rows_json(rows);
    if (pick >= 0) {
      j[size_t(pick)]["pick"] = true;
      j[size_t(pick)]["pick_rule"] = pick_what;
    }
    std::cout << j.dump(2) << "\n";
    return;
  }
  if (a.csv) {
    std::cout << "gpus,layout,step_s,tokens_per_s,mfu_pct,days,gpu_hours,cost,energy_MWh,goodput,"
                 "pareto\n";
    for (const auto& r : rows) std::cout << row_cells(r, ',', true) << "\n";
    return;
  }
  std::cout << m.name << " on " << c.gpu.name << " (" << c.name << "), " << fmt("%.3g", t.tokens)
            << " tokens, global batch " << t.global_batch << " x " << t.seq_len
            << " (computed; * = Pareto front of time-to-train and "
            << (c.economics.price_per_gpu_hour > 0 ? "cost" : "GPU-hours") << ")\n";
  print_table(rows, currency);
  const int k = planner::knee(rows);
  if (k >= 0) std::cout << "\nknee of the front: " << rows[size_t(k)].gpus << " GPUs\n";
  if (pick >= 0) {
    const auto& r = rows[size_t(pick)];
    std::cout << "\n" << pick_what << ": " << r.gpus << " GPUs, " << describe(r.best.layout)
              << "\n"
              << run_table(r.run);
  }
}

}  // namespace

void add_sweep_command(CLI::App& app) {
  auto a = std::make_shared<SweepArgs>();
  auto* cmd = app.add_subcommand(
      "sweep", "best plan at each GPU count: time-to-train, GPU-hours, cost, energy, Pareto front");
  cmd->add_option("--model,-m", a->model, "model: preset, JSON file, inline JSON or HF config")
      ->required();
  cmd->add_option("--cluster,-c", a->cluster, "cluster: preset, JSON file or inline JSON")->required();
  cmd->add_option("--train,-t", a->train, "training setup (with \"tokens\", or pass --tokens)")
      ->required();
  cmd->add_option("--gpus,-g", a->gpus, "GPU counts: 64..16384 (powers of two) or 8,16,48")
      ->required();
  cmd->add_option("--tokens", a->tokens, "total training tokens (overrides train.tokens)");
  cmd->add_option("--deadline", a->deadline, "pick the cheapest plan finishing within (30d, 12h)");
  cmd->add_option("--budget", a->budget, "pick the fastest plan costing at most this much");
  cmd->add_option("--fix", a->fix, "pin dimensions in every search (as for plan)");
  cmd->add_option("--threads,-j", a->threads, "search threads (0: all cores)")->check(threads_range());
  cmd->add_flag("--json", a->json, "print JSON: a list of rows (with a pick when asked)");
  cmd->add_flag("--csv", a->csv, "print CSV");
  cmd->callback([a] { run_sweep(*a); });
}

}  // namespace parplan::cli
