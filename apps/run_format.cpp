#include "run_format.hpp"

#include <cmath>
#include <sstream>

#include "format.hpp"

namespace parplan::cli {

void apply_tokens(Training& t, double tokens) {
  if (tokens == 0) return;
  if (!std::isfinite(tokens) || tokens < 0 || tokens > 1e18)
    throw Error("--tokens must be a positive number of training tokens (e.g. 15.6e12), got " +
                fmt("%g", tokens));
  t.tokens = tokens;
}

std::string money(double v, const std::string& currency) {
  if (v >= 1e6) return fmt("%.2f M ", v / 1e6) + currency;
  if (v >= 1e3) return fmt("%.1f k ", v / 1e3) + currency;
  return fmt("%.0f ", v) + currency;
}

std::string run_table(const cost::RunCost& r) {
  std::ostringstream o;
  const cost::Goodput& g = r.goodput;
  o << "whole run (computed: " << fmt("%.3g", r.tokens) << " tokens)\n";
  o << "  steps          " << fmt("%.0f", r.steps);
  if (r.stages.size() > 1) o << " in " << r.stages.size() << " batch-ramp stages";
  o << "\n";
  o << "  time to train  " << cost::human_duration(r.wall_s) << " wall ("
    << cost::human_duration(r.compute_s) << " of steps, goodput " << pct(g.goodput) << ")\n";
  o << "  GPU-hours      " << fmt("%.4g", r.gpu_hours) << " on " << r.gpus << " GPUs\n";
  if (r.cost > 0) o << "  cost           " << money(r.cost, r.currency) << "\n";
  if (r.energy_kWh > 0)
    o << "  energy         " << fmt("%.4g", r.energy_kWh / 1000) << " MWh at "
      << fmt("%.0f", r.average_power_kW) << " kW (PUE included)\n";
  if (g.checkpoint_bytes > 0)
    o << "  checkpoints    " << gib(g.checkpoint_bytes) << " each, "
      << (g.checkpoint_s > 0 ? secs(g.checkpoint_s) + " stall" : std::string("free"))
      << (g.interval_s > 0 ? ", every " + cost::human_duration(g.interval_s) + " (Young/Daly)"
                           : std::string(""))
      << "\n";
  if (g.job_mtbf_s > 0)
    o << "  failures       " << fmt("%.0f", g.expected_failures) << " expected (job MTBF "
      << cost::human_duration(g.job_mtbf_s) << "), " << cost::human_duration(g.lost_work_s)
      << " lost to restarts and redone work\n";
  for (const auto& n : r.notes) o << "  note: " << n << "\n";
  return o.str();
}

}  // namespace parplan::cli
