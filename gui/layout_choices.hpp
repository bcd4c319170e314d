#pragma once
// The values each layout control may take for the current inputs, so the window only offers
// valid layouts: tp divides the heads, pp the layers, cp the sequence, dp the batch, and
// dp*tp*pp*cp stays within the GPUs. Pure functions; no Qt.
#include <cstdint>
#include <vector>

#include "parplan/model/layout.hpp"
#include "parplan/model/model.hpp"
#include "parplan/model/training.hpp"

namespace parplan::gui {

struct LayoutChoices {
  std::vector<int32_t> tp, pp, cp, dp, micro_batch, virtual_stages;
  std::vector<CpKind> cp_kind;       // ring; with cp > 1 also ulysses and usp
  std::vector<int32_t> ulysses;      // USP's Ulysses share: 0 (derived); with usp the divisors of cp
  std::vector<int32_t> shard_group;  // 0 (the DP group); with zero 3 the divisors of dp below it
  std::vector<int32_t> tiles;        // memory-centric tiling: 1, 2, 4, ... 64
};

// Choices of each degree given the degrees before it (tp, then pp, cp, dp, micro_batch, v) in `l`.
LayoutChoices layout_choices(const Model& m, const Training& t, int64_t gpus, const Layout& l);

// Snaps each degree of `l` to a valid choice, upstream first: the largest choice not above the
// current value (else the smallest). With dp_fill, dp becomes the largest choice (the GPUs left).
// Sequence parallelism is switched off when tp is 1 or does not divide the per-rank sequence;
// parameter offload falls back to optimizer offload below ZeRO-3; a CP kind or shard group that
// is not among the choices falls back to ring / the whole DP group (a Ulysses that cannot split
// the heads is kept: the prediction shows the model's error); USP's share resets to derived (0)
// when it no longer divides cp.
Layout constrain_layout(Layout l, const Model& m, const Training& t, int64_t gpus, bool dp_fill);

}  // namespace parplan::gui
