#pragma once
// Internal: data-parallel / ZeRO work and what of it, and of the TP collectives, the framework
// overlaps with compute (behaviours from framework.hpp; docs/cost-model.md "Frameworks").
#include "parplan/cost/step.hpp"

namespace parplan::cost::detail {

// Whether the step reduces gradients across ranks: with DP, or with CP alone where the framework
// sums the gradients (and shards ZeRO's states) over the DP x CP group (sharding.hpp
// states_over_cp; dp_work uses shard_groups).
bool reduces_gradients(const Training& t, const Layout& l);

// Fills the DP fields of `w` (gradient reduction by buckets or FSDP units, ZeRO-1/2 parameter
// all-gather, ZeRO-3 per-layer gathers and their exposure). `n_local`: this GPU's parameters;
// `layer_params`: of them, in transformer layers.
void dp_work(StepWork& w, const Model& m, const Cluster& c, const Training& t, const Layout& l,
             double n_local, double layer_params);
// w.tp_exposed_s: the TP collectives of one layer, after TP communication overlap when on.
void tp_overlap(StepWork& w, const Cluster& c, const Training& t, const Layout& l);
// DP time of one step: exposed and total. `zero3_exposed`: the critical stage's ZeRO-3 gathers
// not hidden, over all micro-batches.
void dp_exposure(TimeBreakdown& tb, const StepWork& w, const Cluster& c, const Training& t,
                 const Layout& l, int64_t layers_per_stage, double micro_batches,
                 double zero3_exposed);

}  // namespace parplan::cost::detail
