#include "parplan/cost/run.hpp"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdio>

#include <nlohmann/json.hpp>

#include "parplan/cost/pipeline.hpp"

namespace parplan::cost {

double daly_interval(double delta, double mtbf) {
  if (!(mtbf > 0) || !(delta > 0)) return 0;
  if (delta >= 2 * mtbf) return mtbf;
  const double x = delta / (2 * mtbf);
  // Daly 2006: the higher-order refinement of Young's sqrt(2 delta M).
  return std::sqrt(2 * delta * mtbf) * (1 + std::sqrt(x) / 3 + x / 9) - delta;
}

double daly_wall_time(double solve, double tau, double delta, double restart, double mtbf) {
  if (!(solve > 0)) return 0;
  if (!(mtbf > 0)) return tau > 0 ? solve * (1 + delta / tau) : solve;  // no failures
  if (!(tau > 0)) return solve * std::exp(restart / mtbf);  // free checkpoints: limit tau -> 0
  // Daly 2006, the complete exponential model: each segment of tau work plus its checkpoint
  // succeeds with probability e^{-(tau+delta)/M}; a failure costs the restart and the lost part.
  return mtbf * std::exp(restart / mtbf) * std::expm1((tau + delta) / mtbf) * solve / tau;
}

namespace {

// Step time at another global batch: same layout, more or fewer micro-batches.
double step_time_at(const Model& m, const Cluster& c, const Training& t, const Layout& l,
                    int64_t batch) {
  Training tb = t;
  tb.global_batch = batch;
  return predict_unchecked(m, c, tb, l).step_time_s;
}

Goodput goodput_of(const Model& m, const Cluster& c, const Training& t, const Layout& l,
                   const StepCost& step, double solve_s, std::vector<std::string>& notes) {
  Goodput g;
  const StateBytes sb = state_bytes_per_param(t);
  // A checkpoint holds the 16-bit weights and the optimizer state (fp32 master, Adam moments) of
  // the whole model once (Megatron / DeepSpeed distributed checkpoints; gradients are not saved).
  g.checkpoint_bytes = count_params(m).total * (sb.params + sb.optimizer);
  const Reliability& rel = c.reliability;
  if (rel.checkpoint_bytes_per_s > 0) {
    g.checkpoint_write_s = g.checkpoint_bytes / rel.checkpoint_bytes_per_s;
    if (t.async_checkpoint) {
      // Asynchronous checkpointing (torch.distributed.checkpoint async_save, Megatron
      // --async-save): training stalls only while each GPU copies its shard of the state to host
      // memory over PCIe; the write to storage overlaps the next steps.
      const double shard = step.memory.params + step.memory.optimizer;
      const double pcie = c.host.pcie_or_default();
      g.checkpoint_s = shard / pcie;
      if (c.host.pcie_bytes_per_s <= 0)
        notes.push_back("host.pcie_GBps unknown: async checkpoint copy at 25 GB/s per GPU");
    } else {
      g.checkpoint_s = g.checkpoint_write_s;
    }
  } else {
    notes.push_back("reliability.checkpoint_GBps unknown: checkpoints counted as free");
  }
  g.restart_s = rel.restart_s;
  const double gpus = double(l.gpus());
  if (rel.failures_per_gpu_hour > 0) {
    g.job_mtbf_s = 3600.0 / (rel.failures_per_gpu_hour * gpus);
    g.interval_s = daly_interval(g.checkpoint_s, g.job_mtbf_s);
    // Async: a checkpoint cannot start before the previous one is written.
    if (t.async_checkpoint && g.interval_s > 0) g.interval_s = std::max(g.interval_s, g.checkpoint_write_s);
  } else {
    notes.push_back("reliability.failures_per_gpu_hour unknown: no failures counted");
  }
  if (rel.failures_per_gpu_hour > 0 && rel.restart_s <= 0)
    notes.push_back("reliability.restart_s unknown: restarts counted as instant");
  const double wall = daly_wall_time(solve_s, g.interval_s, g.checkpoint_s, g.restart_s, g.job_mtbf_s);
  g.goodput = wall > 0 ? solve_s / wall : 1.0;
  g.checkpoint_total_s = g.interval_s > 0 ? solve_s / g.interval_s * g.checkpoint_s : 0.0;
  g.expected_failures = g.job_mtbf_s > 0 ? wall / g.job_mtbf_s : 0.0;
  g.lost_work_s = std::max(0.0, wall - solve_s - g.checkpoint_total_s);
  return g;
}

}  // namespace

RunCost run_cost(const Model& m, const Cluster& c, const Training& t, const Layout& l,
                 const StepCost& step) {
  if (!(t.tokens > 0))
    throw Error("train.tokens must be > 0 for the whole-run estimate (e.g. \"tokens\": 15.6e12)");
  RunCost r;
  r.tokens = t.tokens;
  r.gpus = l.gpus();
  r.nodes = (r.gpus + c.gpus_per_node - 1) / c.gpus_per_node;
  const double seq = double(t.seq_len);
  const int64_t unit = int64_t(l.dp) * l.micro_batch;  // a step's batch must be a multiple

  // The batch ramp: each stage's tokens at its batch; what is left runs at the full batch.
  double done = 0;
  for (size_t i = 0; i < t.batch_ramp.size() && done < t.tokens; ++i) {
    const BatchStage& st = t.batch_ramp[i];
    RunStage rs;
    rs.global_batch = ((st.global_batch + unit - 1) / unit) * unit;
    if (rs.global_batch != st.global_batch)
      r.notes.push_back("train.batch_ramp[" + std::to_string(i) + "].global_batch " +
                        std::to_string(st.global_batch) + " rounded up to " +
                        std::to_string(rs.global_batch) + " (a multiple of dp x micro_batch)");
    rs.tokens = std::min(st.tokens, t.tokens - done);
    rs.steps = std::ceil(rs.tokens / (double(rs.global_batch) * seq));
    rs.step_time_s = step_time_at(m, c, t, l, rs.global_batch);
    done += rs.tokens;
    r.stages.push_back(rs);
  }
  if (done < t.tokens) {
    RunStage rs;
    rs.global_batch = t.global_batch;
    rs.tokens = t.tokens - done;
    rs.steps = std::ceil(rs.tokens / (double(t.global_batch) * seq));
    rs.step_time_s = step.step_time_s;
    r.stages.push_back(rs);
  }
  for (const RunStage& rs : r.stages) {
    r.steps += rs.steps;
    r.compute_s += rs.steps * rs.step_time_s;
  }

  r.goodput = goodput_of(m, c, t, l, step, r.compute_s, r.notes);
  r.wall_s = r.compute_s / r.goodput.goodput;
  r.gpu_hours = double(r.gpus) * r.wall_s / 3600.0;
  const Economics& ec = c.economics;
  r.currency = ec.currency;
  if (ec.price_per_gpu_hour > 0) r.cost = r.gpu_hours * ec.price_per_gpu_hour;
  else r.notes.push_back("economics.price_per_gpu_hour unknown: no cost");
  if (ec.gpu_power_W > 0) {
    // IT power of the GPUs and of the nodes they occupy, times the facility's PUE.
    const double it_W = double(r.gpus) * ec.gpu_power_W + double(r.nodes) * ec.node_overhead_W;
    r.average_power_kW = it_W * ec.pue / 1000.0;
    r.energy_kWh = r.average_power_kW * r.wall_s / 3600.0;
  } else {
    r.notes.push_back("economics.gpu_power_W unknown: no energy");
  }
  return r;
}

nlohmann::json to_json(const RunCost& r) {
  nlohmann::json stages = nlohmann::json::array();
  for (const RunStage& s : r.stages)
    stages.push_back({{"global_batch", s.global_batch}, {"tokens", s.tokens}, {"steps", s.steps},
                      {"step_time_s", s.step_time_s}});
  const Goodput& g = r.goodput;
  return {{"tokens", r.tokens},
          {"steps", r.steps},
          {"compute_s", r.compute_s},
          {"wall_s", r.wall_s},
          {"gpus", r.gpus},
          {"gpu_hours", r.gpu_hours},
          {"cost", r.cost},
          {"currency", r.currency},
          {"energy_kWh", r.energy_kWh},
          {"average_power_kW", r.average_power_kW},
          {"goodput", g.goodput},
          {"checkpoint_interval_s", g.interval_s},
          {"checkpoint",
           {{"bytes", g.checkpoint_bytes},
            {"stall_s", g.checkpoint_s},
            {"write_s", g.checkpoint_write_s},
            {"total_stall_s", g.checkpoint_total_s}}},
          {"failures",
           {{"job_mtbf_s", g.job_mtbf_s},
            {"expected", g.expected_failures},
            {"restart_s", g.restart_s},
            {"lost_work_s", g.lost_work_s}}},
          {"stages", stages},
          {"notes", r.notes}};
}

double parse_duration(const std::string& text, const std::string& what) {
  auto bad = [&] {
    return Error(what + ": \"" + text.substr(0, 40) +
                 "\" is not a duration; use a number with d, h, m or s (e.g. 30d, 12h)");
  };
  if (text.empty() || text.size() > 40) throw bad();
  size_t pos = 0;
  double v = 0;
  try {
    v = std::stod(text, &pos);
  } catch (...) {
    throw bad();
  }
  std::string unit = text.substr(pos);
  double scale = 1;
  if (unit.empty() || unit == "s") scale = 1;
  else if (unit == "m" || unit == "min") scale = 60;
  else if (unit == "h") scale = 3600;
  else if (unit == "d") scale = 86400;
  else if (unit == "w") scale = 7 * 86400;
  else throw bad();
  if (!std::isfinite(v) || !(v > 0)) throw Error(what + " must be > 0, got " + text.substr(0, 40));
  return v * scale;
}

std::string human_duration(double s) {
  char buf[64];
  if (s >= 2 * 86400) std::snprintf(buf, sizeof buf, "%.1f d", s / 86400);
  else if (s >= 2 * 3600) std::snprintf(buf, sizeof buf, "%.1f h", s / 3600);
  else if (s >= 120) std::snprintf(buf, sizeof buf, "%.0f min", s / 60);
  else std::snprintf(buf, sizeof buf, "%.1f s", s);
  return buf;
}

}  // namespace parplan::cost
