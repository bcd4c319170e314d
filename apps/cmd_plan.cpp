// `parplan plan`: search every layout for the inputs, print the best ones and the rules.

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <functional>
#include <iostream>
#include <memory>
#include <numeric>
#include <sstream>

#include "commands.hpp"
#include "inputs.hpp"
#include "option_checks.hpp"
#include "params_view.hpp"
#include "progress.hpp"
#include "interval_format.hpp"
#include "parplan/planner/ties.hpp"
#include "run_format.hpp"
#include "parplan/cost/run.hpp"
#include "parplan/model/io.hpp"
#include "parplan/planner/plan.hpp"

namespace parplan::cli {

namespace {

constexpr double kGiB = 1024.0 * 1024.0 * 1024.0;

struct PlanOptions {
  InputSpecs in;
  std::string fix;
  bool allow_idle = false;
  int top = 10;
  int threads = 0;
  bool json = false;
  std::string out;
  int simulate = 0;
  double max_sim_s = 120;
  double tokens = 0;
};

std::string fmt(const char* f, double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, f, v);
  return buf;
}

// One ranked layout; "scaling" carries R9/R10's numbers for it (batch, learning rate, exposed
// communication).
nlohmann::json candidate_json(const Training& t, const planner::Candidate& c) {
  return {{"layout", to_json(c.layout)},
          {"prediction", cost::to_json(c.cost)},
          {"scaling", planner::to_json(planner::plan_scaling(t, c))}};
}

std::string no_fit_message(const Inputs& in, const planner::SearchResult& r, bool fixed) {
  std::ostringstream o;
  o << "no layout of " << in.model.name << " fits on " << in.gpus << " x " << in.cluster.gpu.name
    << " (" << fmt("%.0f", in.cluster.gpu.memory_bytes / kGiB) << " GiB each) for this training ("
    << r.evaluated << " layouts evaluated).";
  if (r.evaluated > 0)
    o << " The smallest, " << describe(r.smallest) << ", needs "
      << fmt("%.1f", r.smallest_memory_bytes / kGiB) << " GiB per GPU.";
  else
    o << " No layout satisfies the divisibility rules (heads by tp, layers by pp, global batch by "
         "dp*micro-batch, seq_len by 2*cp).";
  o << " To fix: use more GPUs (--gpus, or more nodes in the cluster file)";
  if (fixed) o << ", loosen --fix (pinned recompute, ZeRO stage or degrees)";
  o << ", enable recomputation (recompute=full) and ZeRO-3 with offload, or lower "
       "train.global_batch / train.seq_len";
  if (r.evaluated == 0) o << ", or pass --allow-idle to leave some GPUs idle";
  o << ".";
  return o.str();
}

std::string table(const std::vector<planner::Candidate>& top, const std::vector<double>* sim) {
  std::ostringstream o;
  char line[512];
  std::snprintf(line, sizeof line,
                "%4s %5s %4s %4s %4s %4s %4s %-9s %-3s %-11s %3s %-16s %9s %s%10s %6s %8s %8s\n",
                "rank", "dp", "tp", "pp", "cp", "mb", "zero", "recompute", "sp", "schedule", "v",
                "offload", "step_s", sim ? " sim_step_s" : "", "tokens/s", "MFU", "mem_GiB",
                "exposed");
  o << line;
  for (size_t i = 0; i < top.size(); ++i) {
    const auto& c = top[i];
    const Layout& l = c.layout;
    std::string simcol = sim ? fmt(" %10.3f", (*sim)[i]) : "";
    std::snprintf(line, sizeof line,
                  "%4zu %5d %4d %4d %4d %4d %4d %-9s %-3s %-11s %3d %-16s %9.3f %s%10.0f %5.1f%% "
                  "%8.1f %7.1f%%\n",
                  i + 1, l.dp, l.tp, l.pp, l.cp, l.micro_batch, l.zero, to_string(l.recompute),
                  l.sequence_parallel ? "yes" : "no", l.pp > 1 ? to_string(l.schedule) : "-",
                  l.virtual_stages, to_string(l.offload), c.cost.step_time_s, simcol.c_str(),
                  c.cost.tokens_per_s, 100 * c.cost.mfu, c.cost.memory.total / kGiB,
                  100 * c.cost.exposed_comm_fraction);
    // Dimensions the columns do not show (CP kind, HSDP group, tiles) end the row.
    std::string row = line, more;
    if (l.cp > 1) more += std::string(" cp_kind=") + to_string(l.cp_kind);
    if (l.shard_group > 0 && l.shard_group < l.dp) more += " shard=" + std::to_string(l.shard_group);
    if (l.tiles > 1) more += " tiles=" + std::to_string(l.tiles);
    o << row.insert(row.size() - 1, more);
  }
  return o.str();
}

void print_ties(const std::vector<planner::Candidate>& top,
                const std::vector<cost::Interval>& iv, size_t tied) {
  if (iv.empty()) return;
  std::cout << "rank 1: " << interval_text(iv.front()) << "\n";
  if (tied > 1)
    std::cout << "statistical tie: the first " << tied
              << " plans' intervals overlap; the simplest (fewest parallel dimensions > 1) is "
                 "shown first, then by predicted step time\n";
  (void)top;
  std::cout << "\n";
}

void run_plan(const PlanOptions& po) {
  Inputs in = load_inputs(po.in, false);
  apply_tokens(in.training, po.tokens);
  planner::SearchOptions so;
  so.gpus = in.gpus;
  so.allow_idle = po.allow_idle;
  check_fix_repeats(po.fix);
  so.fixed = planner::parse_fixed(po.fix);
  if (po.top < 1) throw Error("--top must be >= 1, got " + std::to_string(po.top));
  if (po.simulate < 0) throw Error("--simulate must be >= 0, got " + std::to_string(po.simulate));
  so.top_k = std::max({po.top, po.simulate, 32});  // a deeper list lets the rules compare
  so.threads = po.threads;
  bool shown = false;
  so.progress = progress_bar(shown);
  planner::SearchResult r = planner::search(in.model, in.cluster, in.training, so);
  if (shown) std::fprintf(stderr, "\n");
  if (r.top.empty()) throw Error(no_fit_message(in, r, !po.fix.empty()));

  auto rules = planner::evaluate_rules(in.model, in.cluster, in.training, in.gpus, r);
  const planner::Candidate best = r.top.front();

  // --simulate K: the simulator's step time for the top K, re-ranked by it.
  std::vector<planner::Candidate> shown_top(
      r.top.begin(), r.top.begin() + std::min<size_t>(r.top.size(), size_t(po.top)));
  std::vector<double> sim;
  std::string sim_error;
  if (po.simulate > 0) {
    std::vector<planner::Candidate> cands(
        r.top.begin(), r.top.begin() + std::min<size_t>(r.top.size(), size_t(po.simulate)));
    std::vector<Plan> plans;
    for (const auto& c : cands)
      plans.push_back(planner::make_plan(in.model, in.cluster, in.training, c));
    try {
      sim = simulate_step_times(plans, po.max_sim_s);
      if (sim.size() != cands.size())
        throw Error("the simulator returned a wrong number of results");
      std::vector<size_t> order(cands.size());
      std::iota(order.begin(), order.end(), 0);
      std::stable_sort(order.begin(), order.end(),
                       [&](size_t a, size_t b) { return sim[a] < sim[b]; });
      shown_top.clear();
      std::vector<double> sorted_sim;
      for (size_t i : order) {
        shown_top.push_back(cands[i]);
        sorted_sim.push_back(sim[i]);
      }
      sim = sorted_sim;
    } catch (const Error& e) {
      sim.clear();
      sim_error = e.what();
      std::cerr << "warning: --simulate: " << sim_error << "\n";
    }
  }

  // Statistical ties (cost/intervals.hpp): the simplest of the plans the model cannot separate
  // is shown first.
  std::vector<cost::Interval> intervals;
  for (const auto& c : shown_top)
    intervals.push_back(cost::prediction_interval(in.model, in.cluster, in.training, c.cost));
  planner::TieOrder ties;
  if (sim.empty()) {
    ties = planner::order_ties(shown_top, intervals);
    std::vector<planner::Candidate> reordered;
    std::vector<cost::Interval> reordered_iv;
    for (size_t i : ties.order) reordered.push_back(shown_top[i]), reordered_iv.push_back(intervals[i]);
    shown_top = reordered, intervals = reordered_iv;
  }

  if (!po.out.empty()) {
    nlohmann::json pj = to_json(planner::make_plan(in.model, in.cluster, in.training, best, rules));
    pj["evaluated"] = r.evaluated;
    pj["feasible"] = r.feasible;
    pj["search_time_s"] = r.search_time_s;
    write_file_atomic(po.out, pj.dump(2) + "\n");
  }

  if (po.json) {
    auto with_run = [&](const planner::Candidate& c) {
      nlohmann::json cj = candidate_json(in.training, c);
      if (in.training.tokens > 0)
        cj["prediction"]["run"] =
            cost::to_json(cost::run_cost(in.model, in.cluster, in.training, c.layout, c.cost));
      return cj;
    };
    nlohmann::json j = {{"layouts", r.layouts},
                        {"evaluated", r.evaluated},
                        {"feasible", r.feasible},
                        {"pruned", r.time_pruned + r.memory_pruned},
                        {"search_time_s", r.search_time_s},
                        {"gpus", in.gpus},
                        {"parameters", parameters_json(in.model)},
                        {"best", with_run(best)}};
    j["top"] = nlohmann::json::array();
    for (size_t i = 0; i < std::min<size_t>(r.top.size(), size_t(po.top)); ++i)
      j["top"].push_back(with_run(r.top[i]));
    j["mfu_peak"] = mfu_peak_json(in.cluster, in.training);
    j["best_intervals"] = intervals_json(cost::prediction_interval(in.model, in.cluster, in.training, best.cost));
    if (!shown_top.empty())
      j["statistical_tie"] = {{"tied", ties.tied}, {"simplest", to_json(shown_top.front().layout)}};
    j["rules"] = nlohmann::json::array();
    for (const auto& rr : rules) j["rules"].push_back(planner::to_json(rr));
    if (po.simulate > 0) {
      if (!sim_error.empty()) {
        j["simulation_error"] = sim_error;
      } else {
        j["simulated"] = nlohmann::json::array();
        for (size_t i = 0; i < shown_top.size(); ++i) {
          auto cj = candidate_json(in.training, shown_top[i]);
          cj["simulated_step_time_s"] = sim[i];
          j["simulated"].push_back(cj);
        }
      }
    }
    std::cout << j.dump(2) << "\n";
    return;
  }

  std::cout << in.model.name << " on " << in.gpus << " x " << in.cluster.gpu.name << " ("
            << in.cluster.name << "), global batch " << in.training.global_batch << " x seq "
            << in.training.seq_len << ": " << r.evaluated << " of " << r.layouts
            << " layouts evaluated (the rest pruned), " << r.feasible << " fit, "
            << fmt("%.2f", r.search_time_s) << " s\n";
  std::cout << "parameters: " << parameters_line(in.model) << "\n\n";
  if (!sim.empty())
    std::cout << "ranked by simulated step time (SimGrid) next to the analytical one\n";
  std::cout << table(shown_top, sim.empty() ? nullptr : &sim);
  std::cout << "MFU " << mfu_peak_text(in.cluster, in.training) << "\n\n";
  print_ties(shown_top, intervals, ties.tied);
  std::cout << "rules:\n";
  for (const auto& rr : rules)
    if (rr.fires) std::cout << "  " << planner::describe(rr) << "\n";
  if (in.training.tokens > 0)
    std::cout << "\nbest plan, " << run_table(cost::run_cost(in.model, in.cluster, in.training,
                                                            best.layout, best.cost));
  if (!po.out.empty()) std::cout << "\nwrote the best plan to " << po.out << "\n";
}

}  // namespace

void add_plan_command(CLI::App& app) {
  auto po = std::make_shared<PlanOptions>();
  auto* cmd =
      app.add_subcommand("plan", "search every layout and rank them by predicted step time");
  add_input_options(cmd, po->in, false);
  cmd->add_option("--fix", po->fix,
                  "pin dimensions, e.g. tp=8,pp=8,cp=1,dp=16,mb=1,zero=1,recompute=selective,"
                  "sp=true,schedule=1f1b,v=2,offload=none,cp_kind=ulysses,shard_group=8,tiles=4");
  cmd->add_flag("--allow-idle", po->allow_idle,
                "accept layouts using fewer GPUs (dp*tp*pp*cp <= N)");
  cmd->add_option("--top,-k", po->top, "how many layouts to show")->capture_default_str()
      ->check(int_range(1, 10000));
  cmd->add_option("--threads,-j", po->threads, "search threads (0: all cores)")
      ->capture_default_str()->check(threads_range());
  cmd->add_flag("--json", po->json, "print JSON instead of a table");
  cmd->add_option("--out,-o", po->out, "write the best plan (plan.json) to this file");
  cmd->add_option("--simulate", po->simulate,
                  "simulate the top K layouts with SimGrid and re-rank by simulated time")
      ->check(int_range(0, 10000));
  cmd->add_option("--max-sim-s", po->max_sim_s, "wall-time limit per simulation, seconds")
      ->capture_default_str()->check(finite_range(0, 1e6, false));
  cmd->add_option("--tokens", po->tokens,
                  "total training tokens: adds time-to-train, GPU-hours, cost, energy, goodput");
  cmd->callback([po, cmd] {
    check_out(cmd, "--out", po->out, input_paths(po->in), false);  // before the search
    run_plan(*po);
  });
}

}  // namespace parplan::cli
