#pragma once
// Internal: parameters one GPU holds for its pipeline stage, before ZeRO partitioning.
#include "parplan/cost/flops.hpp"
#include "parplan/cost/pipeline.hpp"

namespace parplan::cost::detail {

struct StageParams {
  double layers = 0;  // transformer-layer parameters on this GPU
  double other = 0;   // embeddings, head, final norm on this GPU
  double total() const { return layers + other; }
};

// Megatron-LM placement: layers split evenly over pp; token embedding (vocab-parallel, split by tp)
// and learned positions (replicated) on the first stage; head (or, with pp > 1 and tied
// embeddings, a copy of the embedding) and the final norm on the last stage. Matrices split by tp,
// norms replicated.
inline StageParams stage_params(const Model& m, const Layout& l, int stage) {
  const ParamCount p = count_params(m);
  const double h = double(m.hidden);
  const double norms = m.gated_mlp ? 2 * h : 4 * h;
  const double tp = double(l.tp);
  StageParams s;
  const double layers = double(max_stage_layers(m.layers, l.pp, l.virtual_stages));
  s.layers = layers * ((p.per_layer - norms) / tp + norms);
  const bool first = stage == 0, last = stage == l.pp - 1;
  if (first) s.other += p.embedding / tp + p.position;
  if (last) {
    s.other += p.final_norm;
    if (!m.tied_embeddings) s.other += p.head / tp;
    else if (!first) s.other += p.embedding / tp;
  }
  return s;
}

}  // namespace parplan::cost::detail
