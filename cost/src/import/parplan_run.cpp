// parplan-run's measured.json (runtime/src/trainer.cpp): the plan it ran and the step times after
// the warm-up steps (first_step); read through model/measured.hpp.
#include "common.hpp"

namespace parplan::cost {

using namespace import_detail;

ImportedRun import_parplan_run(const MeasuredRun& m, const std::vector<double>& step_times_s,
                               const ImportOptions& o) {
  if (!m.has_plan)
    fail(o, "the measured.json holds no plan (written by an old `parplan run`?); rerun it");
  ImportedRun r;
  r.reader = "parplan-run";
  r.model = m.plan.model;
  r.training = m.plan.training;
  r.layout = m.plan.layout;
  r.world_size = r.layout.gpus();
  if (m.memory_bytes > 0 && !m.model_state_only)
    r.memory_GiB = m.memory_bytes / double(int64_t(1) << 30), r.memory_kind = m.memory_kind;
  for (size_t i = 0; i < step_times_s.size(); ++i) r.steps.push_back({int64_t(i + 1), step_times_s[i]});
  if (r.steps.size() >= 3) {
    summarize_steps(r, o.skip >= 0 ? o.skip : 0, "import '" + brief(o.log_name, 200) + "'");
  } else {  // too few steps for a median of its own: the file's statistic
    r.steps = {{1, m.step_time_s}};
    r.measured = r.spread_lo = r.spread_hi = m.step_time_s;
  }
  ImportOptions with_cluster = o;
  if (!with_cluster.cluster) with_cluster.cluster = m.plan.cluster;  // the plan's cluster
  finish(with_cluster, r);
  return r;
}

}  // namespace parplan::cost
