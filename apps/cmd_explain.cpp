// `parplan explain`: which decision rules (R1-R11) apply to the inputs, what they recommend, and
// whether the cost-model search agrees, with the numbers.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <iostream>

#include "commands.hpp"
#include "inputs.hpp"
#include "progress.hpp"
#include "option_checks.hpp"
#include "params_view.hpp"
#include "interval_format.hpp"
#include "run_format.hpp"
#include "parplan/planner/sweep.hpp"
#include "parplan/planner/rules.hpp"

namespace parplan::cli {

namespace {

struct ExplainOptions {
  InputSpecs in;
  std::string fix;
  bool allow_idle = false;
  bool json = false;
  bool all = false;
  int threads = 0;
  double slow_link_fraction = 0.10;
  double tokens = 0;
};

// The cost view: a sweep over powers of two up to the job's GPUs (from a node or 1/32 of it),
// with the knee of the (time-to-train, cost) front and why.
planner::CostView explain_cost(const Inputs& in, const ExplainOptions& eo) {
  planner::SweepOptions so;
  int64_t lo = std::max<int64_t>(in.cluster.gpus_per_node, in.gpus / 32);
  for (int64_t g = 1; g <= in.gpus; g *= 2)
    if (g >= lo) so.gpus.push_back(g);
  if (so.gpus.empty() || so.gpus.back() != in.gpus) so.gpus.push_back(in.gpus);
  check_fix_repeats(eo.fix);
  so.fixed = planner::parse_fixed(eo.fix);
  so.threads = eo.threads;
  return planner::cost_view(planner::sweep(in.model, in.cluster, in.training, so));
}

void run_explain(const ExplainOptions& eo) {
  Inputs in = load_inputs(eo.in, false);
  apply_tokens(in.training, eo.tokens);
  if (!(eo.slow_link_fraction > 0 && eo.slow_link_fraction < 1))
    throw Error("--slow-link-fraction must be between 0 and 1, got " +
                std::to_string(eo.slow_link_fraction));
  planner::SearchOptions so;
  so.gpus = in.gpus;
  so.allow_idle = eo.allow_idle;
  check_fix_repeats(eo.fix);
  so.fixed = planner::parse_fixed(eo.fix);
  so.top_k = 64;  // deep enough for R8 to find the best layout that keeps tp inside a node
  so.threads = eo.threads;
  bool shown = false;
  so.progress = progress_bar(shown);
  auto r = planner::search(in.model, in.cluster, in.training, so);
  if (shown) std::fprintf(stderr, "\n");
  planner::RuleOptions ro;
  ro.slow_link_fraction = eo.slow_link_fraction;
  auto rules = planner::evaluate_rules(in.model, in.cluster, in.training, in.gpus, r, ro);

  if (eo.json) {
    nlohmann::json j = {{"evaluated", r.evaluated},
                        {"feasible", r.feasible},
                        {"search_time_s", r.search_time_s},
                        {"gpus", in.gpus},
                        {"parameters", parameters_json(in.model)}};
    if (!r.top.empty())
      j["best"] = {{"layout", to_json(r.top.front().layout)},
                   {"prediction", cost::to_json(r.top.front().cost)},
                   {"intervals", intervals_json(cost::prediction_interval(
                                     in.model, in.cluster, in.training, r.top.front().cost))}};
    else
      j["best"] = nullptr;
    j["rules"] = nlohmann::json::array();
    for (const auto& rr : rules) j["rules"].push_back(planner::to_json(rr));
    if (in.training.tokens > 0) {
      const planner::CostView cv = explain_cost(in, eo);
      j["cost_view"] = {{"text", cv.text}};
      if (!r.top.empty())
        j["best"]["prediction"]["run"] = cost::to_json(cost::run_cost(
            in.model, in.cluster, in.training, r.top.front().layout, r.top.front().cost));
    }
    std::cout << j.dump(2) << "\n";
    return;
  }
  std::cout << in.model.name << " on " << in.gpus << " x " << in.cluster.gpu.name << " ("
            << in.cluster.gpus_per_node << " per node)\n";
  std::cout << "parameters: " << parameters_line(in.model) << "\n";
  if (r.top.empty())
    std::cout << "search: no layout fits (" << r.evaluated << " evaluated)\n";
  else
    std::cout << "search: best " << describe(r.top.front().layout) << ", "
              << r.top.front().cost.step_time_s << " s per step (" << r.evaluated << " evaluated, "
              << r.feasible << " fit)\n        "
              << interval_text(cost::prediction_interval(in.model, in.cluster, in.training, r.top.front().cost))
              << "\n";
  std::cout << "\nrules that apply:\n";
  for (const auto& rr : rules)
    if (rr.fires) std::cout << "  " << planner::describe(rr) << "\n";
  if (in.training.tokens > 0) {
    if (!r.top.empty())
      std::cout << "\nbest plan, " << run_table(cost::run_cost(in.model, in.cluster, in.training,
                                                              r.top.front().layout, r.top.front().cost));
    std::cout << "\ncost view: " << explain_cost(in, eo).text << "\n";
  }
  if (eo.all) {
    std::cout << "\nrules that do not apply:\n";
    for (const auto& rr : rules)
      if (!rr.fires) std::cout << "  " << planner::describe(rr) << "\n";
  }
}

}  // namespace

void add_explain_command(CLI::App& app) {
  auto eo = std::make_shared<ExplainOptions>();
  auto* cmd = app.add_subcommand(
      "explain", "which decision rules apply, what they recommend, and whether the search agrees");
  add_input_options(cmd, eo->in, false);
  cmd->add_option("--fix", eo->fix, "pin dimensions for the search (as for `plan`)");
  cmd->add_flag("--allow-idle", eo->allow_idle, "accept layouts using fewer GPUs");
  cmd->add_flag("--json", eo->json, "print JSON");
  cmd->add_flag("--all", eo->all, "also list the rules that do not apply");
  cmd->add_option("--threads,-j", eo->threads, "search threads (0: all cores)")
      ->check(threads_range());
  cmd->add_option("--slow-link-fraction", eo->slow_link_fraction,
                  "a link is slow when its exposed communication exceeds this fraction of a step")
      ->capture_default_str();
  cmd->add_option("--tokens", eo->tokens,
                  "total training tokens: adds the whole run and the cost view (knee of the front)");
  cmd->callback([eo] { run_explain(*eo); });
}

}  // namespace parplan::cli
