// MoE rules: where the expert all-to-all runs, and EP versus TP for the experts.
#include "rules_moe.hpp"

#include <string>

#include "parplan/cost/moe.hpp"
#include "rule_format.hpp"

namespace parplan::planner::detail {

void append_moe_rules(const Model& m, const Cluster& c, const Training& t,
                      const SearchResult& result, const RuleOptions& o,
                      std::vector<RuleReport>& out) {
  if (!m.is_moe()) return;  // dense models keep R1-R10 only
  const Candidate* best = result.top.empty() ? nullptr : &result.top.front();
  {
    // DeepSeek-V3 report sec. 3.2.2: NVLink (160 GB/s) carries ~3.2x InfiniBand (50 GB/s), so
    // the dispatch/combine all-to-all belongs inside a node when it is a large share of the step.
    RuleReport r = make_report("M1", "moe-all-to-all-on-nvlink");
    r.recommendation =
        "keep the expert all-to-all on NVLink (EP group inside a node) when it dominates the "
        "step's communication; cross nodes only when the experts do not fit otherwise";
    r.fires = m.is_moe() && best != nullptr;
    if (r.fires) {
      const Layout& l = best->layout;
      const cost::Group g = cost::ep_group(l, c);
      const double step = best->cost.step_time_s;
      const double share = step > 0 ? best->cost.time.ep_comm / step : 0.0;
      const bool dominates = share > o.slow_link_fraction;
      set_verdict(r, !g.spans_nodes() || !dominates);
      r.detail = "best plan ep=" + std::to_string(l.ep) + " etp=" + std::to_string(l.etp) +
                 (g.spans_nodes() ? " spans " + std::to_string(g.size / g.per_node) + " nodes"
                                  : " inside one node") +
                 "; exposed all-to-all " + pct(share) + " of the step" +
                 (t.moe_a2a_overlap == Switch::On ? " (overlapped with compute)" : "");
      r.numbers = {{"ep", l.ep},
                   {"etp", l.etp},
                   {"ep_spans_nodes", g.spans_nodes()},
                   {"ep_comm_fraction", share}};
    }
    out.push_back(std::move(r));
  }
  {
    // Expert TP splits an expert's FFN: with fine-grained experts (FFN narrower than hidden) the
    // split GEMMs get too small and each adds TP collectives; EP keeps whole experts per GPU.
    RuleReport r = make_report("M2", "moe-ep-over-tp-for-experts");
    r.recommendation =
        "split the experts with EP, not expert TP, unless one expert's FFN is wide (more than "
        "hidden) and does not fit a GPU";
    r.fires = m.is_moe() && best != nullptr;
    if (r.fires) {
      const Layout& l = best->layout;
      const bool fine = m.moe.expert_ffn_hidden <= m.hidden;
      set_verdict(r, l.etp == 1 || !fine);
      const cost::MoeLayerWork w = cost::moe_layer_work(m, c, t, l);
      r.detail = "expert FFN " + std::to_string(m.moe.expert_ffn_hidden) + " vs hidden " +
                 std::to_string(m.hidden) + "; best plan etp=" + std::to_string(l.etp) +
                 ", ep=" + std::to_string(l.ep) + ", " + std::to_string(int64_t(w.rows_per_expert)) +
                 " rows per expert GEMM";
      r.numbers = {{"expert_ffn_hidden", m.moe.expert_ffn_hidden},
                   {"etp", l.etp},
                   {"rows_per_expert", w.rows_per_expert}};
    }
    out.push_back(std::move(r));
  }
}

}  // namespace parplan::planner::detail
