// R12 pipeline-schedule (rule_schedule.hpp).
#include "rule_schedule.hpp"

#include "parplan/cost/framework.hpp"
#include "parplan/cost/pipeline.hpp"
#include "rule_format.hpp"

namespace parplan::planner::detail {

RuleReport pipeline_schedule_rule(const Model& m, const Cluster& c, const Training& t,
                                  const Candidate* best) {
  RuleReport r = make_report("R12", "pipeline-schedule");
  r.recommendation =
      "with a pipeline, the schedule with the smallest step that fits among those the framework "
      "runs: zero-bubble (ZB-H1, ZB-V) and DualPipe(V) cut the bubble (Qi et al. 2024; "
      "DeepSeek-V3 report Table 2), interleaved 1F1B divides it by v";
  r.fires = best && best->layout.pp > 1;
  if (!r.fires) {
    not_firing(r, best, "the best plan has no pipeline (pp=1)");
    return r;
  }
  const Layout& b = best->layout;
  const cost::FrameworkBehaviour& fw = cost::framework_behaviour(t);
  r.numbers = nlohmann::json::object();
  r.numbers["best"] = to_string(b.schedule);
  Schedule pick = b.schedule;
  double pick_s = best->cost.fits ? best->cost.step_time_s : 1e300;
  r.detail = "best plan re-priced (pp=" + std::to_string(b.pp) + ", " +
             std::to_string(best->cost.micro_batches) + " micro-batches):";
  for (Schedule s : {Schedule::OneFOneB, Schedule::Interleaved, Schedule::ZbH1, Schedule::ZbV,
                     Schedule::DualPipe, Schedule::DualPipeV}) {
    Layout l = b;
    l.schedule = s;
    l.virtual_stages = s == Schedule::Interleaved ? (b.virtual_stages > 1 ? b.virtual_stages : 2) : 1;
    Diagnostics d;
    validate(l, m, c, t, d);
    const std::string name = to_string(s) + (s == Schedule::Interleaved
                                                 ? " v=" + std::to_string(l.virtual_stages)
                                                 : std::string());
    if (!d.ok()) {
      r.detail += " " + name + " invalid here;";
      continue;
    }
    const cost::StepCost sc = cost::predict_unchecked(m, c, t, l);
    const bool runs = fw.runs(s);
    r.detail += " " + name + " bubble " + secs(sc.time.pp_bubble) + ", step " +
                secs(sc.step_time_s) + ", peak " +
                gib(sc.memory.total) +
                (sc.fits ? "" : " (does not fit)") + (runs ? "" : " (not in " + fw.name + ")") +
                ";";
    r.numbers[name] = {{"bubble_s", sc.time.pp_bubble},
                       {"step_time_s", sc.step_time_s},
                       {"memory_bytes", sc.memory.total},
                       {"fits", sc.fits},
                       {"framework_runs", runs}};
    if (runs && sc.fits && sc.step_time_s < pick_s * (1 - 1e-9)) {
      pick = s;
      pick_s = sc.step_time_s;
    }
  }
  r.recommendation += std::string(": here ") + to_string(pick);
  r.numbers["recommended"] = to_string(pick);
  r.detail += std::string(" the search picked ") + to_string(b.schedule);
  r.verdict = pick == b.schedule ? Verdict::Agrees : Verdict::Disagrees;
  return r;
}

}  // namespace parplan::planner::detail
