#pragma once
// Internal: parameters one GPU holds for its pipeline stage, before ZeRO partitioning.
#include "parplan/cost/flops.hpp"
#include "parplan/cost/pipeline.hpp"

namespace parplan::cost::detail {

struct StageParams {
  double layers = 0;   // transformer-layer parameters on this GPU (routed experts included)
  double other = 0;    // embeddings, head, final norm, MTP modules on this GPU
  double experts = 0;  // of layers + other: routed experts (sharded over ep * etp, and by ZeRO
                       // over the expert-data-parallel group)
  double total() const { return layers + other; }
};

// Megatron-LM placement: layers split evenly over pp; token embedding (vocab-parallel, split by tp)
// and learned positions (replicated) on the first stage; head (or, with pp > 1 and tied
// embeddings, a copy of the embedding), the final norm and the MTP modules (DeepSeek-V3 sec. 3.2)
// on the last stage. Matrices split by tp, norms replicated, routed experts split by ep * etp
// (Megatron-Core MoE parallel folding). A MoE model's layers are counted at their average.
inline StageParams stage_params(const Model& m, const Layout& l, int stage) {
  const ParamCount p = count_params(m);
  const double h = double(m.hidden);
  const double norms = 2.0 * (m.norm_bias ? 2 * h : h);
  const double tp = double(l.tp), ep_etp = double(l.ep) * double(l.etp);
  const double moe_blocks = double(m.moe_layers()) + (m.is_moe() ? double(m.mtp_layers) : 0.0);
  const double routed_per_block = moe_blocks > 0 ? p.routed_experts / moe_blocks : 0.0;
  const double routed_avg = routed_per_block * m.moe_layer_share();
  StageParams s;
  const double layers = double(stage_layers(m, l, stage));
  s.experts = layers * routed_avg / ep_etp;
  s.layers = layers * ((p.per_layer - norms - routed_avg) / tp + norms) + s.experts;
  const bool first = stage == 0, last = stage == l.pp - 1;
  if (first) s.other += p.embedding / tp + p.position;
  if (last) {
    s.other += p.final_norm;
    if (!m.tied_embeddings) s.other += p.head / tp;
    else if (!first) s.other += p.embedding / tp;
    if (m.mtp_layers > 0) {
      const double mtp_routed = m.is_moe() ? double(m.mtp_layers) * routed_per_block : 0.0;
      s.other += (p.mtp - mtp_routed) / tp + mtp_routed / ep_etp;
      s.experts += mtp_routed / ep_etp;
    }
  }
  return s;
}

// What one GPU of pipeline stage `stage` holds: its stage, and under DualPipe also stage
// p - 1 - stage of the other direction (DeepSeek-V3 report Table 2: 2x parameters).
inline StageParams gpu_params(const Model& m, const Layout& l, int stage) {
  StageParams s = stage_params(m, l, stage);
  if (l.schedule == Schedule::DualPipe && l.pp > 1) {
    const StageParams o = stage_params(m, l, l.pp - 1 - stage);
    s.layers += o.layers, s.other += o.other, s.experts += o.experts;
  }
  return s;
}

// Expert-data-parallel group: the tp * cp * dp ranks of a stage regrouped as etp * ep * edp.
inline double expert_dp(const Layout& l) {
  const double fold = double(l.tp) * double(l.cp) * double(l.dp);
  const double e = double(l.ep) * double(l.etp);
  return fold / e >= 1 ? fold / e : 1.0;
}

}  // namespace parplan::cost::detail
