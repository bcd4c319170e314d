// The search's pruning is sound: the pruned search returns exactly the exhaustive search's top
// list (same layouts, same step times, same order) on dense, MoE and FP8 MoE/MLA cases, and the
// bounds and the memory implication it prunes with hold on random layouts of those models
// (planner/src/search_worker.cpp, evaluator.hpp; docs/planner.md "Speed").
#include <gtest/gtest.h>

#include <random>

#include "evaluator.hpp"
#include "fixtures.hpp"
#include "parplan/cost/framework.hpp"
#include "parplan/cost/memory.hpp"
#include "parplan/cost/moe.hpp"
#include "parplan/cost/pipeline.hpp"
#include "parplan/planner/search.hpp"

namespace parplan::planner {
namespace {

SearchResult run(const test::Inputs& in, int64_t gpus, int top_k, bool exhaustive, int threads,
                 const std::string& fix = "") {
  SearchOptions o;
  o.gpus = gpus;
  o.top_k = top_k;
  o.threads = threads;
  o.exhaustive = exhaustive;
  if (!fix.empty()) o.fixed = parse_fixed(fix);
  return search(in.m, in.c, in.t, o);
}

// Pruned (1 and 2 threads) against exhaustive: identical top lists, and the pruned search
// evaluates far fewer layouts of the same space.
void expect_same_top(const test::Inputs& in, int64_t gpus, int top_k, const std::string& fix = "") {
  const SearchResult full = run(in, gpus, top_k, true, 2, fix);
  ASSERT_FALSE(full.top.empty()) << fix;
  EXPECT_EQ(full.evaluated, full.layouts);
  EXPECT_EQ(full.time_pruned + full.memory_pruned, 0);
  for (int threads : {1, 2}) {
    const SearchResult r = run(in, gpus, top_k, false, threads, fix);
    EXPECT_EQ(r.layouts, full.layouts);
    EXPECT_EQ(r.evaluated + r.time_pruned + r.memory_pruned, r.layouts);
    EXPECT_LE(r.predicted, full.predicted);
    ASSERT_EQ(r.top.size(), full.top.size()) << threads << " threads " << fix;
    for (size_t i = 0; i < r.top.size(); ++i) {
      EXPECT_EQ(r.top[i].layout, full.top[i].layout)
          << i << ": " << describe(r.top[i].layout) << " vs " << describe(full.top[i].layout);
      EXPECT_EQ(r.top[i].cost.step_time_s, full.top[i].cost.step_time_s) << i;
      EXPECT_EQ(r.top[i].cost.memory.total, full.top[i].cost.memory.total) << i;
    }
  }
}

test::Inputs dense() {
  auto in = test::presets("llama3-70b", "dgx-h100-80g", "llama3-8k");
  in.t.global_batch = 256;
  return in;
}
test::Inputs mixtral() {
  auto in = test::presets("mixtral-8x7b", "dgx-h100-80g", "llama3-8k");
  in.t.global_batch = 64;
  in.t.seq_len = 4096;
  return in;
}
test::Inputs deepseek() {  // FP8 (blockwise), MLA, 256 routed experts
  auto in = test::presets("deepseek-v3", "h800-2048", "deepseek-v3-4k");
  in.t.global_batch = 64;
  return in;
}

TEST(SearchPruning, DenseTopTenEqualsTheExhaustiveSearch) { expect_same_top(dense(), 128, 10); }

TEST(SearchPruning, MoeTopTenEqualsTheExhaustiveSearch) { expect_same_top(mixtral(), 64, 10); }

TEST(SearchPruning, Fp8MlaMoeTopTenEqualsTheExhaustiveSearch) {
  expect_same_top(deepseek(), 256, 10, "tp=2");
}

TEST(SearchPruning, TopOneAndPinnedSpacesEqualTheExhaustiveSearch) {
  expect_same_top(dense(), 64, 1);
  test::Inputs fsdp = dense();  // torchtitan-style selective recomputation and overlap
  fsdp.t.framework = "fsdp2";
  expect_same_top(fsdp, 64, 10);
  // No 1F1B in the space (no memory implication), pinned tiles, ZeRO-Infinity's own tiles.
  expect_same_top(dense(), 64, 10, "schedule=interleaved");
  expect_same_top(dense(), 32, 10, "tiles=2,zero=3");
  expect_same_top(test::gpt3(), 32, 10, "offload=optimizer+params");
  expect_same_top(mixtral(), 32, 10, "zero=3,pp=2");
}

// Random valid layouts of a model; MoE ones with ep dividing the experts and tp * cp * dp.
struct RandomLayouts {
  const test::Inputs& in;
  std::mt19937 rng{7};
  int32_t pick(std::initializer_list<int32_t> v) {
    return *(v.begin() + std::uniform_int_distribution<size_t>(0, v.size() - 1)(rng));
  }
  bool next(Layout& l) {
    l = Layout{};
    l.tp = pick({1, 2, 4, 8});
    l.pp = pick({1, 2, 3, 4, 8});
    l.cp = pick({1, 2, 4});
    l.dp = pick({1, 2, 4, 8, 16, 32});
    l.micro_batch = pick({1, 2, 4});
    l.recompute = Recompute(pick({0, 1, 2}));
    l.sequence_parallel = l.tp > 1 && pick({0, 1});
    l.cp_kind = l.cp > 1 ? CpKind(pick({0, 1, 2})) : CpKind::Ring;
    if (in.m.is_moe()) {
      l.ep = pick({1, 2, 4, 8});
      l.etp = pick({1, l.tp});
      if (in.m.moe.experts % l.ep != 0 ||
          (int64_t(l.tp) * l.cp * l.dp) % (int64_t(l.ep) * l.etp) != 0)
        return false;
    }
    inner(l);
    Diagnostics d;
    validate(l, in.m, in.c, in.t, d);
    return d.ok();
  }
  // The choices inside a block: zero, offload, shard group, tiles, schedule, v.
  void inner(Layout& l) {
    l.zero = pick({0, 1, 2, 3});
    l.offload = Offload(pick({0, 1, 2}));
    if (l.offload == Offload::OptimizerAndParams) l.zero = 3;
    if (l.offload == Offload::Optimizer && l.zero == 0) l.zero = 1;
    l.shard_group = l.zero == 3 && l.dp % 2 == 0 ? pick({0, 2}) : 0;
    l.tiles = pick({1, 1, 2, 4});
    // Every schedule the framework runs (the zero-bubble and DualPipe ones where it lists them).
    l.schedule = Schedule::OneFOneB;
    if (l.pp > 1) {
      l.schedule = Schedule(pick({0, 1, 2, 3, 4, 5, 6}));
      if (!cost::framework_behaviour(in.t).runs(l.schedule)) l.schedule = Schedule::OneFOneB;
    }
    l.virtual_stages = l.schedule == Schedule::Interleaved ? pick({2, 3, 4}) : 1;
  }
};

int64_t micro_batches(const Training& t, const Layout& l) {
  return t.global_batch / (int64_t(l.dp) * l.micro_batch);
}

void check_bounds(const test::Inputs& in) {
  detail::Evaluator ev(in.m, in.c, in.t);
  RandomLayouts gen{in};
  int checked = 0;
  for (int i = 0; i < 40000 && checked < 1500; ++i) {
    Layout a, b;
    if (!gen.next(a)) continue;
    // b: the same block (split, micro-batch, recomputation, SP), other inner choices.
    b = a;
    gen.inner(b);
    Diagnostics d;
    validate(b, in.m, in.c, in.t, d);
    if (!d.ok()) continue;
    ++checked;
    const int64_t m = micro_batches(in.t, a);
    const cost::StepCost pa = cost::predict_unchecked(in.m, in.c, in.t, a);
    const cost::StepCost pb = cost::predict_unchecked(in.m, in.c, in.t, b);
    const detail::Evaluator::Bound block = ev.lower_bound(b, m);
    const double bubble = ev.bubble_bound(block, b.schedule, b.pp, b.virtual_stages, m);
    EXPECT_LE(block.step_s + bubble, pb.step_time_s) << describe(b);
    EXPECT_EQ(ev.lower_bound(a, m).step_s, block.step_s) << "the block bound is the block's";
    // Phase 1's shortcut: the bound without recomputation bounds every recomputation mode.
    Layout none = b;
    none.recompute = Recompute::None;
    EXPECT_LE(ev.lower_bound(none, m).step_s, pb.step_time_s) << describe(b);

    // What a teaches about b: same tiles and ZeRO class, or a below ZeRO 3 and b at it; not
    // about a DualPipe(V) b whose all-to-all a exposed (search_worker.cpp bound()).
    if (a.tiles != b.tiles || (a.zero >= 3 && b.zero < 3)) continue;
    if (b.ep > 1 && cost::overlaps_ep_comm(b.schedule) && !cost::overlaps_ep_comm(a.schedule) &&
        !cost::moe_a2a_overlapped(in.t))
      continue;
    const detail::Evaluator::Learned e = ev.learn(pa, a, block);
    EXPECT_LE(ev.learned_bound(e, block, b.pp, b.schedule, b.virtual_stages, m, 0.0),
              pb.step_time_s)
        << describe(a) << " -> " << describe(b);
    // With a's optimizer time: a v = 1 layout of the same zero, offload and shard group.
    // (The search takes it from the block's 1F1B: one chunk per stage, one copy of the stage.)
    if (a.virtual_stages == 1 && cost::layer_chunks(a) == 1 && a.schedule != Schedule::DualPipe &&
        a.zero == b.zero && a.offload == b.offload && a.shard_group == b.shard_group) {
      EXPECT_LE(ev.learned_bound(e, block, b.pp, b.schedule, b.virtual_stages, m,
                                 pa.time.optimizer),
                pb.step_time_s)
          << describe(a) << " -> " << describe(b);
    }
  }
  EXPECT_GT(checked, 500);
}

TEST(SearchPruning, BoundsHoldOnRandomLayoutsUnderEveryFramework) {
  // The frameworks differ in what overlaps and what selective recomputation redoes.
  for (const char* fw : {"megatron-core", "megatron-deepspeed", "deepspeed", "fsdp2"})
    for (test::Inputs in : {test::gpt3(), mixtral(), deepseek()}) {
      SCOPED_TRACE(std::string(fw) + " " + in.m.name);
      in.t.framework = fw;
      check_bounds(in);
    }
  // The TP term of the block bound under TP communication overlap (overlap.cpp tp_overlap: what
  // the linear GEMMs hide), forward only (torchtitan async TP) and both passes (Megatron).
  for (const char* fw : {"megatron-core", "fsdp2"})
    for (test::Inputs in : {test::gpt3(), mixtral()}) {
      SCOPED_TRACE(std::string(fw) + " tp_comm_overlap " + in.m.name);
      in.t.framework = fw;
      in.t.tp_comm_overlap = Switch::On;
      check_bounds(in);
    }
}

// The search's memory, with ZeRO-Infinity's tiles where it needs them (search_worker.cpp);
// `tiled`: it chose tiles.
cost::MemoryBreakdown search_memory(const test::Inputs& in, Layout l, bool* tiled = nullptr) {
  cost::MemoryBreakdown mem = cost::memory_per_gpu(in.m, in.c, in.t, l);
  if (tiled) *tiled = false;
  if (!mem.fits && l.offload == Offload::OptimizerAndParams) {
    const int32_t k = cost::tiles_to_fit(mem);
    if (k > 1) {
      l.tiles = k;
      if (tiled) *tiled = true;
      mem = cost::memory_per_gpu(in.m, in.c, in.t, l);
    }
  }
  return mem;
}

void check_memory_implication(const test::Inputs& in) {
  RandomLayouts gen{in};
  int checked = 0, fits_1f1b = 0, not_1f1b = 0;
  for (int i = 0; i < 40000 && checked < 1500; ++i) {
    Layout l;
    if (!gen.next(l) || l.pp == 1 || l.schedule == Schedule::OneFOneB) continue;
    // Under the all-to-all overlap 1F1B holds a whole micro-batch more, interleaved one chunk,
    // DualPipe(V) none: no implication there, and the search does not use one (search_worker).
    if (l.ep > 1 && cost::moe_a2a_overlapped(in.t)) continue;
    if (l.offload == Offload::OptimizerAndParams) l.tiles = 1;  // chosen by the search
    Layout one = l;
    one.schedule = Schedule::OneFOneB;
    one.virtual_stages = 1;
    ++checked;
    // Every stage needs at least its 1F1B memory, so the peak GPU does.
    for (int stage : {0, l.pp / 2, l.pp - 1})
      EXPECT_GE(cost::memory_per_gpu(in.m, in.c, in.t, l, stage).total,
                cost::memory_per_gpu(in.m, in.c, in.t, one, stage).total)
          << describe(l) << " stage " << stage;
    // Model states do not depend on the micro-batch, recomputation or SP (search.cpp's
    // states_overflow): the same with other ones.
    Layout other = one;
    other.micro_batch = 1;
    other.recompute = Recompute::Full;
    other.sequence_parallel = false;
    // Activations and buffers are at least ZeRO 0's without offload or tiles (the worker's
    // memory bound): a stage's memory >= its states + those + the reserve.
    Layout z0 = one;
    z0.zero = 0;
    z0.offload = Offload::None;
    z0.shard_group = 0;
    z0.tiles = 1;
    for (int stage : {0, l.pp - 1}) {
      const auto a = cost::memory_per_gpu(in.m, in.c, in.t, one, stage);
      const auto b = cost::memory_per_gpu(in.m, in.c, in.t, other, stage);
      EXPECT_EQ(a.params + a.grads + a.optimizer, b.params + b.grads + b.optimizer) << describe(l);
      const auto z = cost::memory_per_gpu(in.m, in.c, in.t, z0, stage);
      EXPECT_GE(a.total, (1 - 1e-9) * (a.params + a.grads + a.optimizer + z.activations +
                                       z.buffers + z.reserve))
          << describe(l);
    }
    bool tiled = false;
    const cost::MemoryBreakdown m1 = search_memory(in, one, &tiled);
    (m1.fits ? fits_1f1b : not_1f1b)++;
    // What the search prunes on: 1F1B over GPU memory at every tile count.
    if (!m1.fits && m1.total > m1.capacity && !tiled) {
      EXPECT_FALSE(search_memory(in, l).fits) << describe(l);
    }
  }
  EXPECT_GT(checked, 500);
  EXPECT_GT(fits_1f1b, 0);
  EXPECT_GT(not_1f1b, 0);
}

TEST(SearchPruning, GpipeAndInterleavedNeverFitWhere1f1bDoesNot) {
  check_memory_implication(test::gpt3());
  check_memory_implication(mixtral());
  check_memory_implication(deepseek());
}

// torchtitan (fsdp2) runs ZB-V and DualPipeV: every stage of them needs at least 1F1B's memory.
TEST(SearchPruning, ZeroBubbleAndDualPipeNeverFitWhere1f1bDoesNot) {
  for (test::Inputs in : {test::gpt3(), deepseek()}) {
    in.t.framework = "fsdp2";
    check_memory_implication(in);
  }
}

// Under the all-to-all overlap (DeepSeek-V3's training) 1F1B holds an extra micro-batch and
// DualPipe(V) none, so the search prunes on 1F1B's memory as if the overlap were off
// (search_worker.cpp reference_fits): every schedule, 1F1B included, holds at least that on every
// stage, and a layout whose reference exceeds the GPU never fits.
void check_a2a_reference(const test::Inputs& in) {
  ASSERT_TRUE(cost::moe_a2a_overlapped(in.t));
  Training ref = in.t;
  ref.moe_a2a_overlap = Switch::Off;
  RandomLayouts gen{in};
  int checked = 0, pruned = 0, dual = 0;
  for (int i = 0; i < 40000 && checked < 1500; ++i) {
    Layout l;
    if (!gen.next(l) || l.ep == 1) continue;
    if (l.offload == Offload::OptimizerAndParams) l.tiles = 1;  // chosen by the search
    Layout one = l;
    one.schedule = Schedule::OneFOneB;
    one.virtual_stages = 1;
    ++checked;
    if (cost::overlaps_ep_comm(l.schedule)) ++dual;
    for (int stage : {0, l.pp / 2, l.pp - 1})
      EXPECT_GE(cost::memory_per_gpu(in.m, in.c, in.t, l, stage).total,
                cost::memory_per_gpu(in.m, in.c, ref, one, stage).total)
          << describe(l) << " stage " << stage;
    const cost::MemoryBreakdown r = cost::memory_per_gpu(in.m, in.c, ref, one);
    if (!r.fits && r.total > r.capacity) {
      ++pruned;
      EXPECT_FALSE(cost::memory_per_gpu(in.m, in.c, in.t, l).fits) << describe(l);
    }
  }
  EXPECT_GT(checked, 500);
  EXPECT_GT(pruned, 0);
  const cost::FrameworkBehaviour& fw = cost::framework_behaviour(in.t);
  if (fw.runs(Schedule::DualPipe) || fw.runs(Schedule::DualPipeV)) {
    EXPECT_GT(dual, 0);
  }
}

TEST(SearchPruning, NoScheduleFitsWhere1f1bWithoutTheAllToAllOverlapDoesNot) {
  for (const char* fw : {"megatron-core", "fsdp2"}) {
    test::Inputs in = deepseek();
    in.t.framework = fw;
    SCOPED_TRACE(fw);
    check_a2a_reference(in);
  }
}

TEST(SearchPruning, MoeLayerCountMatchesThePerLayerRule) {
  // Model::moe_layers() in closed form against is_moe_layer() over every layer.
  Model m = load_model("deepseek-v3");
  for (int64_t layers : {1, 3, 4, 7, 61})
    for (int64_t first : {0, 1, 3, 5})
      for (int64_t freq : {1, 2, 3}) {
        m.layers = layers;
        m.moe.first_dense_layers = first;
        m.moe.layer_freq = freq;
        int64_t n = 0;
        for (int64_t i = 0; i < layers; ++i) n += m.is_moe_layer(i) ? 1 : 0;
        EXPECT_EQ(m.moe_layers(), n) << layers << " " << first << " " << freq;
      }
  EXPECT_EQ(load_model("deepseek-v3").moe_layers(), 58);  // 61 layers, the first 3 dense
}

}  // namespace
}  // namespace parplan::planner
