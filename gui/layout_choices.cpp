#include "layout_choices.hpp"

#include <algorithm>

namespace parplan::gui {

namespace {

// Divisors of n not above limit, ascending (always at least {1}).
std::vector<int32_t> divisors(int64_t n, int64_t limit) {
  std::vector<int32_t> out;
  if (n <= 0) n = 1;
  for (int64_t d = 1; d <= std::min(n, limit); ++d)
    if (n % d == 0) out.push_back(int32_t(d));
  if (out.empty()) out.push_back(1);
  return out;
}

int32_t snap(int32_t v, const std::vector<int32_t>& choices, bool to_max) {
  if (to_max) return choices.back();
  int32_t best = choices.front();
  for (int32_t c : choices)
    if (c <= v) best = c;
  return best;
}

// Fills the choices stage by stage; `fix` snaps the layout's value before the next stage reads it.
template <class Fix>
LayoutChoices walk(const Model& m, const Training& t, int64_t gpus, Layout& l, Fix fix) {
  LayoutChoices c;
  gpus = std::max<int64_t>(gpus, 1);
  for (int32_t d : divisors(m.heads, gpus))
    if (m.kv_heads <= 0 || m.kv_heads % d == 0 || d % m.kv_heads == 0) c.tp.push_back(d);
  if (c.tp.empty()) c.tp.push_back(1);
  fix(l.tp, c.tp, false);

  c.pp = divisors(m.layers, gpus / std::max<int32_t>(1, l.tp));
  fix(l.pp, c.pp, false);

  // Load-balanced ring attention splits the sequence into 2*cp chunks.
  for (int32_t d : divisors(t.seq_len, gpus / std::max<int64_t>(1, int64_t(l.tp) * l.pp)))
    if (d == 1 || t.seq_len % (2 * int64_t(d)) == 0) c.cp.push_back(d);
  fix(l.cp, c.cp, false);

  c.dp = divisors(t.global_batch, gpus / std::max<int64_t>(1, int64_t(l.tp) * l.pp * l.cp));
  fix(l.dp, c.dp, true);

  c.micro_batch = divisors(t.global_batch / std::max<int64_t>(1, l.dp), t.global_batch);
  fix(l.micro_batch, c.micro_batch, false);

  // Interleaved 1F1B needs two or more model chunks per stage; the other schedules exactly one.
  c.virtual_stages.clear();
  if (l.schedule == Schedule::Interleaved && l.pp > 1)
    for (int32_t v : divisors(m.layers / std::max<int32_t>(1, l.pp), m.layers))
      if (v >= 2) c.virtual_stages.push_back(v);
  if (c.virtual_stages.empty()) c.virtual_stages = {1};
  fix(l.virtual_stages, c.virtual_stages, false);

  // Every CP kind is offered with cp > 1; a Ulysses degree that cannot split the heads per TP
  // rank stays selected and the status line shows the model's error (model/src/layout.cpp).
  c.cp_kind = {CpKind::Ring};
  if (l.cp > 1) c.cp_kind.insert(c.cp_kind.end(), {CpKind::Ulysses, CpKind::Usp});
  // USP: Ulysses over u ranks, ring over cp / u (u = 1 is ring, u = cp is Ulysses).
  c.ulysses = {0};
  if (l.cp > 1 && l.cp_kind == CpKind::Usp)
    for (int32_t d : divisors(l.cp, l.cp)) c.ulysses.push_back(d);
  // HSDP shard groups divide dp and need ZeRO-3; 0 is the whole DP group.
  c.shard_group = {0};
  if (l.zero == 3)
    for (int32_t d : divisors(l.dp, l.dp))
      if (d < l.dp) c.shard_group.push_back(d);
  c.tiles = {1, 2, 4, 8, 16, 32, 64};
  return c;
}

}  // namespace

LayoutChoices layout_choices(const Model& m, const Training& t, int64_t gpus, const Layout& l) {
  Layout copy = l;
  return walk(m, t, gpus, copy, [](int32_t&, const std::vector<int32_t>&, bool) {});
}

Layout constrain_layout(Layout l, const Model& m, const Training& t, int64_t gpus, bool dp_fill) {
  const LayoutChoices c =
      walk(m, t, gpus, l, [&](int32_t& v, const std::vector<int32_t>& choices, bool is_dp) {
        v = snap(v, choices, is_dp && dp_fill);
      });
  if (std::find(c.cp_kind.begin(), c.cp_kind.end(), l.cp_kind) == c.cp_kind.end())
    l.cp_kind = CpKind::Ring;
  // USP's Ulysses share (0: derived by the cost model) must divide cp; the others have none.
  if (l.cp_kind != CpKind::Usp || (l.ulysses > 0 && l.cp % l.ulysses != 0)) l.ulysses = 0;
  if (std::find(c.shard_group.begin(), c.shard_group.end(), l.shard_group) == c.shard_group.end())
    l.shard_group = 0;  // also a group of all dp ranks: the same layout
  if (l.tiles < 1) l.tiles = 1;
  // Sequence parallelism splits the per-rank sequence over tp.
  if (l.tp == 1 || (t.seq_len / l.cp) % l.tp != 0) l.sequence_parallel = false;
  // Offloading parameters needs ZeRO-3 to partition them first.
  if (l.offload == Offload::OptimizerAndParams && l.zero < 3) l.offload = Offload::Optimizer;
  return l;
}

}  // namespace parplan::gui
