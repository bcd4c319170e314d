// The decision rules R1-R10 (shared/docs/decision-rules.md) and R11 (rule_cp.cpp): when each
// applies, what it recommends, and whether the cost-model search's best plan agrees, with the
// numbers.
#include "parplan/planner/rules.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>

#include "parplan/cost/pipeline.hpp"
#include "rules_moe.hpp"
#include "parplan/model/error.hpp"
#include "rule_cp.hpp"
#include "rule_format.hpp"
#include "rule_schedule.hpp"

namespace parplan::planner {

namespace {

using namespace detail;  // rule_format.hpp


std::string str(int64_t v) {
  return std::to_string(v);
}

// What the inputs say before any search: does the training state fit one GPU, does one layer?
struct Facts {
  int64_t gpus = 1, gpus_per_node = 1, nodes = 1;
  double usable_bytes = 0;   // GPU memory less the fragmentation reserve
  double one_gpu_total = 0;  // plain training, micro-batch 1, full recomputation
  double one_gpu_state = 0;  // of which params + grads + optimizer
  bool fits_one_gpu = false;
  double largest_layer_bytes = 0;  // 16-bit weights + grads + activations of the largest layer
  double largest_layer_state_bytes = 0;  // of which weights + grads (what tiling divides)
  bool layer_fits = true;
  int32_t tiles = 1;  // memory-centric tiles that make the largest layer fit (0: none does)
};

Facts facts(const Model& m, const Cluster& c, const Training& t, int64_t gpus) {
  Facts f;
  f.gpus = gpus;
  f.gpus_per_node = c.gpus_per_node;
  f.nodes = (gpus + c.gpus_per_node - 1) / c.gpus_per_node;
  Layout plain;
  plain.recompute = Recompute::Full;
  const auto mem = cost::memory_per_gpu(m, c, t, plain);
  f.usable_bytes = mem.capacity - mem.reserve;
  f.one_gpu_total = mem.total;
  f.one_gpu_state = mem.params + mem.grads + mem.optimizer;
  f.fits_one_gpu = mem.fits;
  // ZeRO-Infinity (Rajbhandari et al. 2021) sec. 5: the working set of the largest layer.
  const auto pc = cost::count_params(m);
  const auto sb = cost::state_bytes_per_param(t);
  const double largest = std::max({pc.per_layer, pc.embedding, pc.head});
  Layout one;
  f.largest_layer_state_bytes = largest * (sb.params + sb.grads);
  const double act = cost::layer_activation_bytes(m, t, one);
  f.largest_layer_bytes = f.largest_layer_state_bytes + act;
  f.layer_fits = f.largest_layer_bytes <= f.usable_bytes;
  // Memory-centric tiling divides the layer's weights and grads by the tile count (ZeRO-Infinity
  // sec. 5); the activations stay.
  if (!f.layer_fits) {
    f.tiles = 0;
    if (f.usable_bytes > act) {
      const double k = std::ceil(f.largest_layer_state_bytes / (f.usable_bytes - act));
      if (k <= cost::kMaxTiles) f.tiles = int32_t(k);
    }
  }
  return f;
}

// Exposed communication of a layout, split by whether its group leaves a node.
struct Exposure {
  double total = 0, inter_node = 0, intra_node = 0;  // fractions of the step
};
Exposure exposure(const Candidate& b, const Cluster& c) {
  Exposure e;
  const auto& tm = b.cost.time;
  const double step = b.cost.step_time_s > 0 ? b.cost.step_time_s : 1;
  const auto pl = cost::place(b.layout, c);
  auto add = [&](double s, const cost::Group& g) {
    (g.spans_nodes() ? e.inter_node : e.intra_node) += s / step;
  };
  add(tm.tp_comm, pl.tp);
  add(tm.cp_comm, pl.cp);
  add(tm.pp_comm, pl.pp);
  add(tm.dp_comm_exposed, pl.dp);
  e.total = e.inter_node + e.intra_node;
  return e;
}

nlohmann::json layout_numbers(const Candidate& b) {
  return {{"layout", to_json(b.layout)},
          {"step_time_s", b.cost.step_time_s},
          {"memory_per_gpu_bytes", b.cost.memory.total}};
}

// The best plan of a narrower search (the rule's own recommendation), for the numbers. When no
// layout of that family uses exactly `gpus` (batch divisibility), layouts leaving GPUs idle count.
std::optional<Candidate> best_with(const Model& m, const Cluster& c, const Training& t,
                                   int64_t gpus, const Fixed& f, int top_k = 1,
                                   bool (*keep)(const Layout&) = nullptr) {
  for (bool idle : {false, true}) {
    SearchOptions o;
    o.gpus = gpus;
    o.fixed = f;
    o.top_k = top_k;
    o.allow_idle = idle;
    try {
      auto r = search(m, c, t, o);
      for (const auto& cand : r.top)
        if (!keep || keep(cand.layout)) return cand;
    } catch (const Error&) {
    }
  }
  return std::nullopt;
}

// The best layout on up to `gpus` GPUs (idle GPUs allowed): when it uses fewer GPUs and is
// faster than the best on all of them, the extra GPUs cost time (batch divisibility, more
// communication) and R6/R10 say so.
struct UpTo {
  std::optional<Candidate> best;
  bool fewer_faster = false;
  std::string text;
  nlohmann::json numbers;
};
UpTo up_to(const Model& m, const Cluster& c, const Training& t, int64_t gpus,
           const Candidate& best) {
  UpTo u;
  // A job gets whole nodes: fewer GPUs means fewer nodes (every count below one node when the
  // job fits in a node). One exact search per count; counts ahead of the incumbent only.
  const int64_t g = std::max<int64_t>(1, c.gpus_per_node);
  std::vector<int64_t> counts;
  if (gpus <= g)
    for (int64_t n = gpus - 1; n >= 1; --n) counts.push_back(n);
  else
    for (int64_t n = (gpus - 1) / g * g; n >= g; n -= g) counts.push_back(n);
  // n GPUs need at least F / (n x peak x matmul_max) for the step's model FLOPs F, so only counts
  // above N x MFU / matmul_max can beat the best on all N.
  const double reach = c.efficiency.matmul_max > 0 ? c.efficiency.matmul_max : 1.0;
  const double n_min = double(best.layout.gpus()) * best.cost.mfu / reach;
  for (int64_t n : counts) {
    if (double(n) <= n_min) break;
    SearchOptions o;
    o.gpus = n;
    o.top_k = 1;
    try {
      auto r = search(m, c, t, o);
      if (!r.top.empty() && (!u.best || better(r.top.front(), *u.best))) u.best = r.top.front();
    } catch (const Error&) {
    }
  }
  if (u.best && !better(*u.best, best)) u.best = best;
  if (!u.best) return u;
  const double gain = 1 - u.best->cost.step_time_s / best.cost.step_time_s;
  u.fewer_faster = u.best->layout.gpus() < gpus && gain > 1e-9;
  u.numbers = layout_numbers(*u.best);
  u.numbers["gpus"] = u.best->layout.gpus();
  if (u.fewer_faster)
    u.text = "; on fewer GPUs it is faster: " + describe(u.best->layout) + " on " +
             std::to_string(u.best->layout.gpus()) + " of the " + std::to_string(gpus) + " GPUs takes " +
             fmt("%.3f s", u.best->cost.step_time_s) + " (" + fmt("%.1f%%", 100 * gain) +
             " less than the best on all " + std::to_string(gpus) + ")";
  else
    u.text = "; no layout on fewer GPUs is faster";
  return u;
}

std::string compare(const Candidate& best, const std::optional<Candidate>& rule,
                    const std::string& what) {
  if (!rule) return "; no " + what + " layout fits";
  std::string gpus =
      rule->layout.gpus() < best.layout.gpus() ? " on " + str(rule->layout.gpus()) + " GPUs" : "";
  return "; best " + what + " layout " + describe(rule->layout) + gpus + ": " +
         secs(rule->cost.step_time_s) + " (" +
         fmt("%+.1f%%", 100.0 * (rule->cost.step_time_s / best.cost.step_time_s - 1)) +
         " vs the search's best)";
}

}  // namespace

const char* to_string(Verdict v) {
  switch (v) {
    case Verdict::Agrees:
      return "agrees";
    case Verdict::Disagrees:
      return "disagrees";
    case Verdict::NotApplicable:
      return "n/a";
  }
  return "?";
}

nlohmann::json to_json(const RuleReport& r) {
  return {{"id", r.id},
          {"name", r.name},
          {"fires", r.fires},
          {"recommendation", r.recommendation},
          {"verdict", to_string(r.verdict)},
          {"detail", r.detail},
          {"numbers", r.numbers}};
}

PlanScaling plan_scaling(const Training& t, const Candidate& c) {
  PlanScaling s;
  const Layout& l = c.layout;
  s.accumulation_steps = cost::micro_batches(t, l);
  s.effective_global_batch = int64_t(l.dp) * l.micro_batch * s.accumulation_steps;
  // The batch the training file's learning rate was set for: train.base_batch, else its own
  // global batch (the model's reference recipe, e.g. GPT-3 175B: 6e-5 at 1,536 sequences).
  s.base_batch = t.base_batch > 0 ? t.base_batch : t.global_batch;
  s.scaled_learning_rate =
      t.learning_rate * std::sqrt(double(s.effective_global_batch) / double(s.base_batch));
  s.exposed_comm_fraction = c.cost.exposed_comm_fraction;
  return s;
}

nlohmann::json to_json(const PlanScaling& s) {
  return {{"effective_global_batch", s.effective_global_batch},
          {"accumulation_steps", s.accumulation_steps},
          {"base_batch", s.base_batch},
          {"scaled_learning_rate", s.scaled_learning_rate},
          {"exposed_comm_fraction", s.exposed_comm_fraction}};
}

std::string describe(const RuleReport& r) {
  std::string s = r.id + " " + r.name + " [" + (r.fires ? to_string(r.verdict) : "does not apply") +
                  "]: " + r.recommendation;
  if (!r.detail.empty()) s += "\n    " + r.detail;
  return s;
}

std::vector<RuleReport> evaluate_rules(const Model& m, const Cluster& c, const Training& t,
                                       int64_t gpus, const SearchResult& result,
                                       const RuleOptions& o) {
  if (gpus <= 0) gpus = c.total_gpus();
  const Facts f = facts(m, c, t, gpus);
  const Candidate* best = result.top.empty() ? nullptr : &result.top.front();
  const std::string best_desc =
      best ? "best plan " + describe(best->layout) + " (" + secs(best->cost.step_time_s) + ")"
           : "the search found no layout that fits";
  const Exposure ex = best ? exposure(*best, c) : Exposure{};
  const bool one_gpu = gpus == 1;
  const bool one_node = gpus > 1 && gpus <= c.gpus_per_node;
  const bool multi_node = gpus > c.gpus_per_node;
  const nlohmann::json memory_numbers = {{"one_gpu_total_bytes", f.one_gpu_total},
                                         {"one_gpu_state_bytes", f.one_gpu_state},
                                         {"usable_bytes", f.usable_bytes},
                                         {"fits_one_gpu", f.fits_one_gpu}};
  const std::string memory_text = "plain training on one GPU needs " + gib(f.one_gpu_total) +
                                  " (state " + gib(f.one_gpu_state) + ") of " +
                                  gib(f.usable_bytes) + " usable";
  std::vector<RuleReport> out;
  std::optional<UpTo> up_to_cache;
  auto up_to_best = [&]() -> const UpTo& {
    if (!up_to_cache) up_to_cache = up_to(m, c, t, gpus, *best);
    return *up_to_cache;
  };

  {  // R1
    RuleReport r = make_report("R1", "single-gpu-fits");
    r.recommendation = "plain training on one GPU: no ZeRO, no offload";
    r.fires = one_gpu && f.fits_one_gpu;
    r.numbers = memory_numbers;
    r.detail = memory_text;
    if (r.fires && best) {
      set_verdict(r, best->layout.zero == 0 && best->layout.offload == Offload::None);
      r.detail += "; " + best_desc;
    }
    out.push_back(std::move(r));
  }
  {  // R2
    RuleReport r = make_report("R2", "single-gpu-offload");
    r.recommendation =
        "ZeRO with CPU offload of the optimizer state (and of the parameters if still short)";
    r.fires = one_gpu && !f.fits_one_gpu;
    r.numbers = memory_numbers;
    r.detail = memory_text;
    if (r.fires) {
      set_verdict(r, best && best->layout.offload != Offload::None);
      r.detail += "; " + best_desc;
      if (best) r.numbers["cpu_offload_bytes"] = best->cost.memory.cpu_offload;
    }
    out.push_back(std::move(r));
  }
  {  // R3
    RuleReport r = make_report("R3", "single-gpu-tiling");
    r.recommendation =
        "ZeRO-3 plus memory-centric tiling: split the largest layer's matrix multiply and run the "
        "pieces one after another";
    r.fires = one_gpu && !f.layer_fits;
    r.numbers = {{"largest_layer_bytes", f.largest_layer_bytes},
                 {"largest_layer_state_bytes", f.largest_layer_state_bytes},
                 {"usable_bytes", f.usable_bytes},
                 {"recommended_tiles", f.tiles}};
    r.detail = "the largest layer's working set (16-bit weights, grads, activations) is " +
               gib(f.largest_layer_bytes) + " of " + gib(f.usable_bytes) + " usable";
    if (r.fires) {
      if (f.tiles > 0) {
        r.recommendation += ": tiles=" + str(f.tiles);
        r.detail += "; " + str(f.tiles) + " tiles bring its weights and grads from " +
                    gib(f.largest_layer_state_bytes) + " to " +
                    gib(f.largest_layer_state_bytes / f.tiles);
      } else {
        r.detail += "; its activations alone exceed the GPU, so no tile count helps";
      }
      // Agreement: the search's best plan tiles too (it tries tiling where ZeRO-Infinity's
      // gathered layers do not fit), or nothing fits when no tile count helps.
      set_verdict(r, f.tiles > 0 ? best && best->layout.tiles > 1 : best == nullptr);
      r.detail += "; " + best_desc;
      if (best) r.numbers["best"] = layout_numbers(*best);
    }
    out.push_back(std::move(r));
  }
  {  // R4
    RuleReport r = make_report("R4", "node-fits-ddp");
    r.recommendation =
        "data parallel (DDP) across the node's GPUs, or ZeRO to save memory for larger "
        "micro-batches";
    r.fires = one_node && f.fits_one_gpu;
    r.numbers = memory_numbers;
    r.detail = memory_text;
    if (r.fires && best) {
      const Layout& l = best->layout;
      set_verdict(r, l.tp == 1 && l.pp == 1 && l.cp == 1);
      Fixed ddp;
      ddp.tp = ddp.pp = ddp.cp = 1;
      auto rule = best_with(m, c, t, gpus, ddp);
      r.detail += "; " + best_desc + compare(*best, rule, "data-parallel");
      r.numbers["best"] = layout_numbers(*best);
      if (rule) r.numbers["rule_best"] = layout_numbers(*rule);
    }
    out.push_back(std::move(r));
  }
  const bool slow = best && ex.total > o.slow_link_fraction;
  const bool slow_inter = best && ex.inter_node > o.slow_link_fraction;
  const nlohmann::json link_numbers = {{"exposed_comm_fraction", ex.total},
                                       {"exposed_inter_node_fraction", ex.inter_node},
                                       {"exposed_intra_node_fraction", ex.intra_node},
                                       {"slow_link_fraction", o.slow_link_fraction}};
  {  // R5
    RuleReport r = make_report("R5", "node-no-fit");
    r.recommendation =
        "pipeline parallel, ZeRO or tensor parallel; with slow links prefer PP over ZeRO and TP";
    r.fires = one_node && !f.fits_one_gpu;
    r.numbers = link_numbers;
    r.detail = memory_text;
    if (r.fires && best) {
      const Layout& l = best->layout;
      r.detail += "; " + best_desc + "; exposed communication " + pct(ex.total) + " of the step (" +
                  (slow ? "slow" : "fast") + " links at the " + pct(o.slow_link_fraction) +
                  " threshold)";
      set_verdict(r, slow ? l.pp > 1 : (l.pp > 1 || l.zero >= 1 || l.tp > 1));
      if (slow) r.recommendation += " (links are slow here: PP first)";
    } else if (r.fires) {
      set_verdict(r, false);
      r.detail += "; " + best_desc;
    }
    out.push_back(std::move(r));
  }
  {  // R6
    RuleReport r = make_report("R6", "multinode-fast");
    r.recommendation =
        "ZeRO alone (almost no model changes), or PP + ZeRO + TP + DP (less communication, more "
        "engineering)";
    r.fires = multi_node && best && !slow_inter;
    r.numbers = link_numbers;
    if (multi_node && best) {
      r.detail = "exposed inter-node communication of the " + best_desc + " is " +
                 pct(ex.inter_node) + " of the step (fast below " + pct(o.slow_link_fraction) + ")";
    } else {
      r.detail =
          multi_node ? best_desc + ": link speed cannot be judged" : "the GPUs fit in one node";
    }
    if (r.fires) {
      const Layout& l = best->layout;
      const bool zero_alone = l.tp == 1 && l.pp == 1 && l.cp == 1 && l.zero >= 1;
      const bool three_d = l.pp > 1 && l.tp > 1 && l.dp > 1;
      const UpTo& u = up_to_best();
      set_verdict(r, (zero_alone || three_d) && !u.fewer_faster);
      Fixed zero_only;
      zero_only.tp = zero_only.pp = zero_only.cp = 1;
      auto rule = best_with(m, c, t, gpus, zero_only);
      r.detail += compare(*best, rule, "ZeRO/data-parallel-only") + u.text;
      r.numbers["best"] = layout_numbers(*best);
      if (rule) r.numbers["rule_best"] = layout_numbers(*rule);
      if (u.best) r.numbers["best_up_to_gpus"] = u.numbers;
      r.numbers["fewer_gpus_faster"] = u.fewer_faster;
    }
    out.push_back(std::move(r));
  }
  {  // R7
    RuleReport r = make_report("R7", "multinode-slow");
    r.recommendation = "DP + PP + TP + ZeRO-1";
    r.fires = multi_node && slow_inter && !f.fits_one_gpu;
    r.numbers = link_numbers;
    r.numbers["fits_one_gpu"] = f.fits_one_gpu;
    if (multi_node && best)
      r.detail = "exposed inter-node communication of the " + best_desc + " is " +
                 pct(ex.inter_node) + " of the step (slow above " + pct(o.slow_link_fraction) +
                 "); " + memory_text;
    else
      r.detail = multi_node ? best_desc : "the GPUs fit in one node";
    if (r.fires) {
      const Layout& l = best->layout;
      set_verdict(r, l.dp > 1 && l.pp > 1 && l.tp > 1 && l.zero <= 1);
      Fixed z1;
      z1.zero = 1;
      auto rule = best_with(m, c, t, gpus, z1, 64,
                            [](const Layout& x) { return x.dp > 1 && x.pp > 1 && x.tp > 1; });
      r.detail += compare(*best, rule, "DP+PP+TP+ZeRO-1");
      r.numbers["best"] = layout_numbers(*best);
      if (rule) r.numbers["rule_best"] = layout_numbers(*rule);
    }
    out.push_back(std::move(r));
  }
  {  // R8
    // Tensor parallelism all-reduces (or reduce-scatters and all-gathers) every layer's
    // activations twice per pass: it belongs on NVLink. The fast links end at the NVLink
    // domain: the node on HGX/DGX (8 GPUs), the rack on GB200/GB300 NVL72 (72 GPUs, 4 per tray).
    const int64_t dom = c.domain_gpus();
    const bool rack = dom > c.gpus_per_node;
    const std::string where = rack ? " GPUs per NVLink domain" : " GPUs per node";
    RuleReport r = make_report("R8", "tp-within-node");
    r.recommendation = std::string("keep tensor parallelism inside the NVLink domain") +
                       (rack ? " (" + str(dom) + " GPUs over " + str(dom / c.gpus_per_node) +
                                   " nodes of " + str(c.gpus_per_node) +
                                   (dom < c.nvlink_domain()
                                        ? ", the job's segment of each " + str(c.nvlink_domain()) +
                                              "-GPU domain"
                                        : std::string()) +
                                   ")"
                             : " (the node)") +
                       ": tp <= " + str(dom);
    r.fires = gpus > 1;
    r.numbers = {{"gpus_per_node", c.gpus_per_node}, {"nvlink_domain_gpus", c.nvlink_domain()},
                 {"job_gpus_per_domain", dom},
                 {"nvlink_GBps", c.intra.bandwidth_bytes_per_s / 1e9},
                 {"nic_GBps_per_gpu", c.inter.nic_bytes_per_s * double(c.inter.nics_per_node) /
                                          double(std::max<int64_t>(1, c.gpus_per_node)) / 1e9}};
    if (r.fires && best) {
      const int64_t tp = best->layout.tp;
      r.numbers["best_tp"] = tp;
      set_verdict(r, tp <= dom);
      r.detail = "best plan tp=" + str(tp) + (tp <= dom ? " <= " : " > ") + str(dom) + where;
      if (tp > dom) {
        const Candidate* within = nullptr;
        for (const auto& cand : result.top)
          if (cand.layout.tp <= dom) {
            within = &cand;
            break;
          }
        r.detail += within ? compare(*best, *within, rack ? "within-domain tp" : "within-node tp")
                           : "; no layout with tp <= " + str(dom) + " among the top " +
                                 str(int64_t(result.top.size()));
        if (within) r.numbers["rule_best"] = layout_numbers(*within);
      } else if (rack && tp > c.gpus_per_node) {
        r.detail += " (tp spans " + str(tp / c.gpus_per_node) + " nodes over NVLink)";
      }
    } else if (r.fires) {
      r.detail = best_desc;
    } else {
      r.detail = "one GPU: no tensor parallelism";
    }
    out.push_back(std::move(r));
  }
  {  // R9
    RuleReport r = make_report("R9", "batch-scaling");
    r.recommendation =
        "global batch = data-parallel workers x micro-batch x accumulation steps; scale the "
        "learning rate by sqrt(batch / the batch it was set for) (a heuristic)";
    r.fires = best != nullptr;
    if (best) {
      const Layout& l = best->layout;
      const PlanScaling ps = plan_scaling(t, *best);
      const int64_t accum = ps.accumulation_steps, effective = ps.effective_global_batch;
      const int64_t base = ps.base_batch;
      const double lr = ps.scaled_learning_rate;
      set_verdict(r, effective == t.global_batch);
      r.numbers = {{"dp", l.dp},
                   {"micro_batch", l.micro_batch},
                   {"accumulation_steps", accum},
                   {"effective_global_batch", effective},
                   {"base_batch", base},
                   {"learning_rate", t.learning_rate},
                   {"scaled_learning_rate", lr}};
      r.detail = "effective global batch " + str(l.dp) + " x " + str(l.micro_batch) + " x " +
                 str(accum) + " = " + str(effective) + " (train.global_batch " +
                 str(t.global_batch) + "); learning rate " + fmt("%.3g", t.learning_rate) +
                 " (set for a batch of " + str(base) +
                 (t.base_batch > 0 ? ", train.base_batch" : ", train.global_batch") + ") x sqrt(" +
                 str(effective) + "/" + str(base) + ") = " + fmt("%.3g", lr) +
                 "; square-root scaling is a heuristic (Krizhevsky 2014; Malladi et al. 2022 for "
                 "Adam), not a tuned rate";
      r.numbers["heuristic"] = "sqrt";
    } else {
      r.detail = best_desc;
    }
    out.push_back(std::move(r));
  }
  {  // R10
    RuleReport r = make_report("R10", "communication-ratio");
    r.recommendation =
        "keep exposed communication below " + pct(o.slow_link_fraction) + " of the step";
    r.fires = best != nullptr;
    r.numbers = link_numbers;
    if (best) {
      const auto& tm = best->cost.time;
      const double step = best->cost.step_time_s;
      r.numbers["exposed_comm_fraction_cost"] = best->cost.exposed_comm_fraction;
      const UpTo& u = up_to_best();
      set_verdict(r, best->cost.exposed_comm_fraction <= o.slow_link_fraction && !u.fewer_faster);
      r.numbers["fewer_gpus_faster"] = u.fewer_faster;
      if (u.best) r.numbers["best_up_to_gpus"] = u.numbers;
      r.detail = "exposed communication " + pct(best->cost.exposed_comm_fraction) +
                 " of the step: tp " + pct(tm.tp_comm / step) + ", cp " + pct(tm.cp_comm / step) +
                 ", pp " + pct(tm.pp_comm / step) + ", dp " + pct(tm.dp_comm_exposed / step) +
                 " (dp total incl. hidden " + pct(tm.dp_comm_total / step) + ")" +
                 (u.best && u.fewer_faster
                      ? u.text + ", exposed communication " + pct(u.best->cost.exposed_comm_fraction)
                      : u.text);
    } else {
      r.detail = best_desc;
    }
    out.push_back(std::move(r));
  }
  out.push_back(detail::context_parallel_rule(m, c, t, best));  // R11 (rule_cp.cpp)
  out.push_back(detail::pipeline_schedule_rule(m, c, t, best));  // R12 (rule_schedule.cpp)
  detail::append_moe_rules(m, c, t, result, o, out);
  return out;
}

}  // namespace parplan::planner
