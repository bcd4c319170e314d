// R11 context-parallel-kind. The rule (Jacobs et al. 2023 sec. 3.2: Ulysses' all-to-all volume
// per GPU falls as 1/cp while ring attention's K,V passes do not; Fang & Zhao 2024 sec. 4: Ulysses
// is bounded by the heads and by slow inter-node all-to-alls, ring overlaps its transfers with
// attention): Ulysses when the CP group sits inside a node and its degree splits the heads; USP
// (Ulysses inside the node, ring across) when CP spans nodes and a node holds more than one CP
// rank with the heads split; ring otherwise.
#include "parplan/cost/context_parallel.hpp"
#include "rule_cp.hpp"
#include "rule_format.hpp"

namespace parplan::planner::detail {

RuleReport context_parallel_rule(const Model& m, const Cluster& c, const Training& t,
                                 const Candidate* best) {
  RuleReport r = make_report("R11", "context-parallel-kind");
  r.recommendation =
      "long sequences: Ulysses (all-to-all over heads) while the CP group fits in a node and "
      "divides the heads; USP (Ulysses inside the node, ring across) when it spans nodes; ring "
      "attention otherwise";
  r.fires = best && best->layout.cp > 1;
  if (!r.fires) {
    not_firing(r, best, "the best plan uses no context parallelism (cp=1)");
    return r;
  }
  const Layout& b = best->layout;
  const int64_t span = int64_t(b.tp) * b.cp;
  const bool in_node = span <= c.domain_gpus();  // inside the NVLink domain
  const bool heads_split = cost::ulysses_splits_heads(m, b.tp, b.cp);
  Layout usp = b;
  usp.cp_kind = CpKind::Usp;
  usp.ulysses = 0;
  const int32_t u = cost::ulysses_degree(m, c, usp);
  const CpKind pick = in_node && heads_split ? CpKind::Ulysses
                      : !in_node && u > 1   ? CpKind::Usp
                                            : CpKind::Ring;
  r.recommendation += std::string(": here ") + to_string(pick);
  r.detail = "cp=" + std::to_string(b.cp) + " with tp=" + std::to_string(b.tp) + " spans " +
             std::to_string(span) + (in_node ? " GPUs inside a " : " GPUs, more than a ") +
             std::to_string(c.domain_gpus()) +
             (c.domain_gpus() > c.gpus_per_node ? "-GPU NVLink domain" : "-GPU node") +
             "; heads per TP rank " +
             std::to_string(m.heads / b.tp) + (heads_split ? " split" : " do not split") +
             " by cp;";
  r.numbers = {{"cp", b.cp}, {"tp", b.tp}, {"in_node", in_node}, {"heads_split", heads_split},
               {"usp_ulysses", u}, {"recommended", to_string(pick)},
               {"best", to_string(b.cp_kind)}};
  for (CpKind k : {CpKind::Ring, CpKind::Ulysses, CpKind::Usp}) {
    Layout l = b;
    l.cp_kind = k;
    l.ulysses = 0;
    if (k == CpKind::Ulysses && !heads_split) {
      r.detail += std::string(" ulysses invalid (heads);");
      continue;
    }
    const cost::StepCost sc = cost::predict_unchecked(m, c, t, l);
    std::string name = to_string(k);
    if (k == CpKind::Usp)
      name += "(" + std::to_string(u) + "x" + std::to_string(b.cp / u) + ")";
    r.detail += " " + name + " " + secs(sc.step_time_s) + (sc.fits ? "" : " (does not fit)") + ";";
    r.numbers[std::string(to_string(k)) + "_step_time_s"] = sc.step_time_s;
  }
  r.detail += std::string(" the search picked ") + to_string(b.cp_kind);
  // USP with a Ulysses share of cp is Ulysses, with share 1 ring: the same layout either way.
  auto same = [&](CpKind a, CpKind z) {
    if (a == z) return true;
    auto norm = [&](CpKind k) {
      if (k != CpKind::Usp) return k;
      return u <= 1 ? CpKind::Ring : u >= b.cp ? CpKind::Ulysses : CpKind::Usp;
    };
    return norm(a) == norm(z);
  };
  r.verdict = same(pick, b.cp_kind) ? Verdict::Agrees : Verdict::Disagrees;
  return r;
}

}  // namespace parplan::planner::detail
