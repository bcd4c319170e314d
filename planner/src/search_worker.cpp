// The search's inner loop: blocks in the order of their step-time lower bound, each block's
// ZeRO / offload / shard-group and schedule choices; memory before the time model, and two sound
// prunings (docs/planner.md "Speed"):
// - time: a layout whose lower bound exceeds the shared threshold (some worker already holds k
//   faster layouts) cannot enter the top k; blocks are sorted by bound, so once one is pruned
//   every later block is too.
// - memory: every stage of a GPipe or interleaved layout holds at least the same stage's memory
//   under 1F1B (cost/src/memory.cpp: in-flight micro-batches m >= min(p - s, m), interleaved
//   (p - s - 1) * 2 + (v - 1) p + 1 chunks of 1/v of the stage's layers >= 1F1B's, stage layers
//   ceil(L / (p v)) v >= ceil(L / p), the rest independent of the schedule; ZeRO-3's gathered
//   layers, which tiles divide, are the same), so when 1F1B does not fit in GPU memory at any
//   tile count, none of them does. Under the all-to-all overlap (Training.moe_a2a_overlap) with
//   EP, which adds a micro-batch to 1F1B and a chunk to interleaved but none to DualPipe(V), the
//   reference is 1F1B's memory as if the overlap were off: every schedule holds at least its own
//   memory without the overlap's extra, so at least that.
#include <algorithm>
#include <bit>

#include "evaluator.hpp"
#include "parplan/cost/pipeline.hpp"
#include "search_space.hpp"

namespace parplan::planner::detail {

bool TopK::offer(const Layout& l, const cost::StepCost& c) {
  if (k_ == 0) return false;
  if (heap_.size() < k_) {
    heap_.push_back(Candidate{l, c});
    std::push_heap(heap_.begin(), heap_.end(), better);
    return true;
  }
  Candidate cand{l, c};
  if (!better(cand, heap_.front())) return false;
  std::pop_heap(heap_.begin(), heap_.end(), better);
  heap_.back() = cand;
  std::push_heap(heap_.begin(), heap_.end(), better);
  return true;
}

namespace {

// Sums in another order than memory.cpp: a margin far above rounding, far below any layout's
// difference.
constexpr double kMemorySafety = 1.0 - 1e-9;

// The layout fields a block fixes: its split and its micro-batch, recompute and SP choices.
Layout block_layout(const Split& sp, const Block& b) {
  Layout l;
  l.dp = sp.dp;
  l.tp = sp.tp;
  l.pp = sp.pp;
  l.cp = sp.cp;
  l.cp_kind = sp.cp_kind;
  l.ep = sp.ep;
  l.etp = sp.etp;
  l.micro_batch = b.micro_batch;
  l.recompute = b.recompute;
  l.sequence_parallel = b.sequence_parallel;
  return l;
}

class Worker {
 public:
  Worker(const Space& s, SharedTop& top)
      : s_(s), eval_(s.m, s.c, s.t), t_ref_(without_a2a_overlap(s.t)), eval_ref_(s.m, s.c, t_ref_),
        top_(top) {
    scheds_.reserve(64);
  }

  void run_block(const Block& b) {
    const Split& sp = s_.splits[b.split];
    Layout l = block_layout(sp, b);
    bound_ = detail::Evaluator::Bound{b.bound, b.layer_s, b.ends_min, b.ends_max};
    micro_batches_ = s_.t.global_batch / (int64_t(sp.dp) * b.micro_batch);
    schedule_choices(s_.m, s_.t, s_.f, sp.pp, micro_batches_, scheds_);
    const size_t n = scheds_.size();
    block_bounds_.resize(n);
    for (size_t i = 0; i < n; ++i)
      block_bounds_[i] = b.bound + eval_.bubble_bound(bound_, scheds_[i].schedule, sp.pp,
                                                      scheds_[i].v, micro_batches_);
    learned_.clear();
    // The 1F1B layout decides the memory of the others; it is in the space unless pinned out.
    // Under the all-to-all overlap (cost/src/memory.cpp) it adds a whole micro-batch to 1F1B, one
    // chunk to interleaved 1F1B, none to DualPipe(V), whose own count holds it: then 1F1B's
    // memory without the overlap decides (reference()).
    a2a_ = cost::moe_a2a_overlapped(s_.t) && sp.ep > 1;
    const bool has_1f1b = !a2a_ && n > 0 && scheds_.front().schedule == Schedule::OneFOneB;
    acts_ready_ = false;
    for (const ZeroChoice& z : s_.zero_choices[b.split]) {
      l.zero = z.zero;
      l.offload = z.offload;
      l.shard_group = z.shard_group;
      run_choices(l, has_1f1b, z);
    }
  }

  // Replaces b's bound (taken without recomputation) by its own; false when it prunes b.
  bool exact_bound(Block& b, double threshold) const {
    const Split& sp = s_.splits[b.split];
    Layout l = block_layout(sp, b);
    const detail::Evaluator::Bound r =
        eval_.lower_bound(l, s_.t.global_batch / (int64_t(sp.dp) * b.micro_batch));
    b.bound = std::max(b.bound, r.step_s);
    b.layer_s = std::max(b.layer_s, r.layer_s);
    return !(b.bound > threshold);
  }

  WorkerResult finish() { return WorkerResult{n_, smallest_, smallest_bytes_}; }

  Counts& counts() { return n_; }

 private:
  // What the block's predictions so far bound (Evaluator::learn), per ZeRO class and tiles.
  struct Learned {
    bool zero3;
    int32_t tiles;
    detail::Evaluator::Learned e;
  };

  void learn(const Layout& l, const cost::StepCost& sc) {
    const detail::Evaluator::Learned e = eval_.learn(sc, l, bound_);
    for (Learned& k : learned_)
      if (k.zero3 == (l.zero >= 3) && k.tiles == l.tiles) {
        k.e.x = std::max(k.e.x, e.x);
        k.e.send = std::max(k.e.send, e.send);
        return;
      }
    learned_.push_back({l.zero >= 3, l.tiles, e});
  }

  // Whether an entry learned from `k` bounds `l`: same tiles and ZeRO class, or k below ZeRO 3
  // and l at ZeRO 3 (ZeRO-3 only adds FP8 weight casts to the forward, fp8.cpp; of the exposed
  // communication only the expert all-to-all overlaps the whole forward, by max(0, comm -
  // compute) + slowdown x min(comm, compute), so compute + exposed does not fall).
  static bool applies(const Learned& k, const Layout& l) {
    return k.tiles == l.tiles && (k.zero3 == (l.zero >= 3) || (!k.zero3 && l.zero >= 3));
  }
  bool knows(const Layout& l) const {
    for (const Learned& k : learned_)
      if (applies(k, l)) return true;
    return false;
  }

  // Learns from the time model of one layout of `l`'s ZeRO class and tiles (ZeRO 0 or 3, no
  // offload, whole-group sharding, 1F1B), whether or not it is in the space or fits: the bound
  // holds for every layout of the class, and prunes its ZeRO choices before their memory.
  void represent(const Layout& l) {
    Layout r = l;
    r.zero = l.zero >= 3 ? 3 : 0;
    r.offload = Offload::None;
    r.shard_group = 0;
    r.schedule = Schedule::OneFOneB;
    r.virtual_stages = 1;
    const cost::MemoryBreakdown unused;
    const cost::StepCost sc = eval_.step(r, unused);
    if (sc.step_time_s > 0 && sc.step_time_s < 1e300) learn(r, sc);
  }

  // The bound of schedule i for `l`'s zero and tiles: the block's or the learned one, with
  // `optimizer` from this zero choice's 1F1B (0 when unknown).
  double bound(const Layout& l, size_t i, double optimizer) const {
    double b = block_bounds_[i];
    // Learned from 1F1B predictions, whose expert all-to-all DualPipe(V) hides: not a bound then.
    if (l.ep > 1 && cost::overlaps_ep_comm(scheds_[i].schedule) && !cost::moe_a2a_overlapped(s_.t))
      return b;
    for (const Learned& k : learned_)
      if (applies(k, l))
        b = std::max(b, eval_.learned_bound(k.e, bound_, l.pp, scheds_[i].schedule, scheds_[i].v,
                                            micro_batches_, optimizer));
    return b;
  }

  // A GPU-memory lower bound of every layout of the block with ZeRO choice z: a stage holds its
  // model states (phase 1) plus activations and buffers at least as large as ZeRO 0's without
  // offload (those do not depend on the ZeRO choice or tiles, except ZeRO-2/3's gradient buffers
  // and gathered layers, which only add) plus the reserve, all with 1F1B and v = 1.
  double memory_bound(const Layout& l, const ZeroChoice& z) {
    if (!acts_ready_) {
      Layout z0 = l;
      z0.zero = 0;
      z0.offload = Offload::None;
      z0.shard_group = 0;
      z0.tiles = 1;
      z0.schedule = Schedule::OneFOneB;
      z0.virtual_stages = 1;
      for (int k = 0; k < 2; ++k) {
        const cost::MemoryBreakdown mb = (a2a_ ? eval_ref_ : eval_).memory(z0, k == 0 ? 0 : l.pp - 1);
        acts_[k] = mb.activations + mb.buffers;
        reserve_ = mb.reserve;
        capacity_ = mb.capacity;
      }
      acts_ready_ = true;
    }
    return std::max(z.states[0] + acts_[0], z.states[1] + acts_[1]) + reserve_;
  }

  // Every schedule of one (block, zero choice).
  void run_choices(Layout& l, bool has_1f1b, const ZeroChoice& z) {
    const size_t n = scheds_.size();
    if (n == 0) return;
    if (s_.exhaustive) {
      for (size_t i = 0; i < n; ++i) {
        set_schedule(l, i);
        const cost::MemoryBreakdown mem = memory(l);
        if (!mem.fits) continue;
        ++n_.feasible;
        predict(l, mem);
      }
      return;
    }
    // Tiles are known before memory unless ZeRO-Infinity picks them (memory()).
    const bool auto_tiles = !s_.f.tiles && l.offload == Offload::OptimizerAndParams;
    l.tiles = s_.f.tiles.value_or(1);
    if (!auto_tiles && !knows(l)) represent(l);
    double optimizer = 0;
    auto pruned = [&](size_t i) { return bound(l, i, optimizer) > top_.threshold(); };
    bool any = false;
    for (size_t i = 0; i < n && !any; ++i) any = !pruned(i);
    if (!any) {
      n_.time_pruned += int64_t(n);
      return;
    }
    // Once something fits (so the smallest layout is not needed for advice), skip the choices
    // over GPU memory by memory_bound(): their 1F1B does not fit at any tile count, and no other
    // schedule needs less (the memory implication above).
    if (top_.threshold() < 1e300) {
      const double need = memory_bound(l, z);  // sets capacity_
      if (kMemorySafety * need > capacity_) {
        n_.memory_pruned += int64_t(n);
        return;
      }
    }
    size_t first = 0;
    if (a2a_ && n > 1 && !auto_tiles && !reference_fits(l)) {
      n_.memory_pruned += int64_t(n);
      return;
    }
    if (has_1f1b && n > 1) {
      // Memory of the 1F1B layout first: if it does not fit, nothing here does.
      set_schedule(l, 0);
      const cost::MemoryBreakdown mem = memory(l);
      first = 1;
      if (mem.fits) {
        ++n_.feasible;
        // Predicted even when its own bound prunes it: it bounds the others.
        optimizer = predict(l, mem).time.optimizer;
      } else if (mem.total > mem.capacity && !tiled_) {
        // Only GPU memory carries over (host memory is checked on the peak GPU's stage, which
        // may differ between schedules), and only when no tile count could make 1F1B fit.
        n_.memory_pruned += int64_t(n - 1);
        return;
      }
    }
    for (size_t i = first; i < n; ++i) {
      l.tiles = s_.f.tiles.value_or(1);
      if (!auto_tiles && pruned(i)) {
        ++n_.time_pruned;
        continue;
      }
      set_schedule(l, i);
      const cost::MemoryBreakdown mem = memory(l);
      if (!mem.fits) continue;
      ++n_.feasible;
      if (auto_tiles && pruned(i)) continue;  // evaluated, not predicted
      predict(l, mem);
    }
  }

  // Under the all-to-all overlap: whether 1F1B (v = 1) without the overlap's extra micro-batch
  // fits in GPU memory at `l`'s tiles (pinned or 1); when it does not, no schedule of `l`'s
  // choices does (the header). Not a layout of the space, so not counted.
  bool reference_fits(const Layout& l) {
    Layout r = l;
    r.tiles = s_.f.tiles.value_or(1);
    r.schedule = Schedule::OneFOneB;
    r.virtual_stages = 1;
    const cost::MemoryBreakdown mem = eval_ref_.memory(r);
    return mem.fits || !(mem.total > mem.capacity);
  }

  static Training without_a2a_overlap(const Training& t) {
    Training r = t;
    r.moe_a2a_overlap = Switch::Off;
    return r;
  }

  void set_schedule(Layout& l, size_t i) {
    l.schedule = scheds_[i].schedule;
    l.virtual_stages = scheds_[i].v;
  }

  // Memory of `l`, with memory-centric tiling where ZeRO-Infinity needs it: the fewest tiles that
  // make the layout fit (tiles cost time, never save it); pinned tiles (--fix tiles=N) apply
  // everywhere. Sets l.tiles.
  cost::MemoryBreakdown memory(Layout& l) {
    ++n_.evaluated;
    l.tiles = s_.f.tiles.value_or(1);
    tiled_ = false;
    cost::MemoryBreakdown mem = eval_.memory(l);
    if (!mem.fits && !s_.f.tiles && l.offload == Offload::OptimizerAndParams) {
      const int32_t k = cost::tiles_to_fit(mem);
      if (k > 1) {
        l.tiles = k;
        tiled_ = true;
        mem = eval_.memory(l);
      }
    }
    if (n_.evaluated == 1 || mem.total < smallest_bytes_) {
      smallest_bytes_ = mem.total;
      smallest_ = l;
    }
    return mem;
  }

  cost::StepCost predict(const Layout& l, const cost::MemoryBreakdown& mem) {
    ++n_.predicted;
    const cost::StepCost sc = eval_.step(l, mem);
    // A dtype without a peak (0 FLOP/s) gives an infinite step: nothing to rank.
    if (!(sc.step_time_s > 0 && sc.step_time_s < 1e300)) return sc;
    top_.offer(l, sc);
    if (!s_.exhaustive) learn(l, sc);
    return sc;
  }

  const Space& s_;
  detail::Evaluator eval_;
  const Training t_ref_;         // s_.t without the all-to-all overlap (memory reference)
  detail::Evaluator eval_ref_;   // on t_ref_
  SharedTop& top_;
  Counts n_;
  detail::Evaluator::Bound bound_;
  int64_t micro_batches_ = 1;
  std::vector<ScheduleChoice> scheds_;
  std::vector<double> block_bounds_;
  std::vector<Learned> learned_;
  bool tiled_ = false;  // the last memory() chose tiles (k > 1)
  bool a2a_ = false;  // the all-to-all overlap adds memory to some schedules (the header)
  bool acts_ready_ = false;
  double acts_[2] = {0, 0}, reserve_ = 0, capacity_ = 0;
  Layout smallest_;
  double smallest_bytes_ = 0;
};

}  // namespace

WorkerResult run_worker(const Space& s, SharedTop& top, BlockQueue& queue,
                        std::atomic<size_t>& done, const std::atomic<bool>* cancel) {
  Worker w(s, top);
  for (;;) {
    if (cancel && cancel->load(std::memory_order_relaxed)) break;
    uint64_t i = 0;
    size_t dropped = 0;
    int64_t layouts = 0;
    const bool got = queue.pop(top.threshold(), s.exhaustive, i, dropped, layouts, s);
    // Dropped: every block left is slower than k layouts already kept.
    w.counts().time_pruned += layouts;
    done.fetch_add(dropped, std::memory_order_relaxed);
    if (!got) break;
    Block b = s.block(i);
    const uint8_t lazy = b.lazy_modes;
    b.lazy_modes = 0;
    b.layouts /= 1 + std::popcount(unsigned(lazy));  // each mode's block: the same layouts
    w.run_block(b);
    // The recomputation modes b's bound stood for, in enumeration order, each with its own bound.
    for (Recompute rc : {Recompute::Selective, Recompute::Full}) {
      if (!(lazy & (1u << size_t(rc)))) continue;
      Block x = b;
      x.recompute = rc;
      if (!s.exhaustive && !w.exact_bound(x, top.threshold()))
        w.counts().time_pruned += x.layouts;
      else
        w.run_block(x);
    }
    done.fetch_add(1, std::memory_order_relaxed);
  }
  return w.finish();
}

}  // namespace parplan::planner::detail
