#include "parplan/planner/assumptions.hpp"

#include "parplan/cost/framework.hpp"

namespace parplan::planner {

namespace {
bool pick(Switch s, bool dflt, bool& is_default) {
  is_default = s == Switch::Default;
  return is_default ? dflt : s == Switch::On;
}
const char* on(bool b) { return b ? "on" : "off"; }
}  // namespace

Overlap resolved_overlap(const Training& t, const Layout& l) {
  Overlap o;
  const cost::FrameworkBehaviour& fw = cost::framework_behaviour(t);
  o.grad_reduce = pick(t.overlap_grad_reduce,
                       l.zero >= 3 ? fw.zero3_overlap_grad_reduce : fw.overlap_grad_reduce,
                       o.grad_reduce_default);
  o.param_gather = pick(t.overlap_param_gather, fw.overlap_param_gather, o.param_gather_default);
  o.tp_comm = pick(t.tp_comm_overlap, fw.tp_comm_overlap, o.tp_comm_default);
  return o;
}

std::vector<Assumption> prediction_assumptions(const Model& m, const Training& t, const Layout& l) {
  std::vector<Assumption> a;
  a.push_back({"framework", t.framework_name(),
               t.framework.empty() ? "default (train.framework unset)" : "train.framework"});
  const Overlap o = resolved_overlap(t, l);
  const std::string fw = t.framework_name();
  auto sw = [&fw](bool dflt, const std::string& key) {
    return dflt ? fw + " default (train." + key + " unset)" : "train." + key;
  };
  if (l.dp > 1)
    a.push_back({"overlap_grad_reduce", on(o.grad_reduce),
                 sw(o.grad_reduce_default, "overlap_grad_reduce")});
  if (l.dp > 1 && l.zero >= 1 && l.zero <= 2)
    a.push_back({"overlap_param_gather", on(o.param_gather),
                 sw(o.param_gather_default, "overlap_param_gather")});
  if (l.tp > 1)
    a.push_back({"tp_comm_overlap", on(o.tp_comm), sw(o.tp_comm_default, "tp_comm_overlap")});
  a.push_back({"attention", t.flash_attention ? "flash (no s x s scores kept)" : "standard (scores kept)",
               "train.flash_attention"});
  a.push_back({"gradients", t.fp32_grad_accum || !t.mixed_precision() ? "fp32" : "16-bit",
               "train.fp32_grad_accum"});
  a.push_back({"dtype", to_string(t.dtype), "train.dtype"});
  if (l.recompute == Recompute::Selective)
    a.push_back(l.recompute_modules != 0
                    ? Assumption{"recompute_modules", recompute_modules_list(l.recompute_modules),
                                 "layout.recompute_modules (Megatron-Core's modules)"}
                    : Assumption{"recompute_modules", fw + "'s selective",
                                 "layout.recompute_modules unset (Megatron-Core: core_attn; "
                                 "torchtitan: op-level SAC)"});
  if (m.is_moe())
    a.push_back({"moe_a2a_overlap", t.moe_a2a_overlap == Switch::On ? "on" : "off",
                 t.moe_a2a_overlap == Switch::Default ? "default (train.moe_a2a_overlap unset)"
                                                      : "train.moe_a2a_overlap"});
  return a;
}

}  // namespace parplan::planner
