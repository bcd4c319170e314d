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
//   tile count, none of them does.
#include <algorithm>

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

class Worker {
 public:
  Worker(const Space& s, SharedTop& top) : s_(s), eval_(s.m, s.c, s.t), top_(top) {
    scheds_.reserve(64);
  }

  void run_block(const Block& b) {
    const Split& sp = s_.splits[b.split];
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
    bound_ = detail::Evaluator::Bound{b.bound, b.layer_s, b.ends_min, b.ends_max};
    micro_batches_ = s_.t.global_batch / (int64_t(sp.dp) * b.micro_batch);
    schedule_choices(s_.m, s_.f, sp.pp, micro_batches_, scheds_);
    const size_t n = scheds_.size();
    block_bounds_.resize(n);
    for (size_t i = 0; i < n; ++i)
      block_bounds_[i] = b.bound + eval_.bubble_bound(bound_, scheds_[i].schedule, sp.pp,
                                                      scheds_[i].v, micro_batches_);
    learned_.clear();
    // The 1F1B layout decides the memory of the others; it is in the space unless pinned out.
    const bool has_1f1b = n > 0 && scheds_.front().schedule == Schedule::OneFOneB;
    for (const ZeroChoice& z : s_.zero_choices[b.split]) {
      l.zero = z.zero;
      l.offload = z.offload;
      l.shard_group = z.shard_group;
      run_choices(l, has_1f1b);
    }
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

  // The bound of schedule i for `l`'s zero and tiles: the block's or the learned one, with
  // `optimizer` from this zero choice's 1F1B (0 when unknown).
  double bound(const Layout& l, size_t i, double optimizer) const {
    double b = block_bounds_[i];
    for (const Learned& k : learned_)
      if (k.zero3 == (l.zero >= 3) && k.tiles == l.tiles)
        b = std::max(b, eval_.learned_bound(k.e, bound_, l.pp, scheds_[i].schedule, scheds_[i].v,
                                            micro_batches_, optimizer));
    return b;
  }

  // Every schedule of one (block, zero choice).
  void run_choices(Layout& l, bool has_1f1b) {
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
    double optimizer = 0;
    auto pruned = [&](size_t i) { return bound(l, i, optimizer) > top_.threshold(); };
    bool any = false;
    for (size_t i = 0; i < n && !any; ++i) any = !pruned(i);
    if (!any) {
      n_.time_pruned += int64_t(n);
      return;
    }
    size_t first = 0;
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
  SharedTop& top_;
  Counts n_;
  detail::Evaluator::Bound bound_;
  int64_t micro_batches_ = 1;
  std::vector<ScheduleChoice> scheds_;
  std::vector<double> block_bounds_;
  std::vector<Learned> learned_;
  bool tiled_ = false;  // the last memory() chose tiles (k > 1)
  Layout smallest_;
  double smallest_bytes_ = 0;
};

}  // namespace

WorkerResult run_worker(const Space& s, SharedTop& top, std::atomic<size_t>& next,
                        std::atomic<size_t>& done, const std::atomic<bool>* cancel) {
  Worker w(s, top);
  const size_t n = s.blocks.size();
  for (;;) {
    if (cancel && cancel->load(std::memory_order_relaxed)) break;
    const size_t i = next.fetch_add(1, std::memory_order_relaxed);
    if (i >= n) break;
    const Block& b = s.blocks[i];
    if (!s.exhaustive && b.bound > top.threshold()) {
      // Sorted by bound: this block and every later one are slower than k layouts already kept.
      // Claim the blocks no worker has taken yet ([j, n)); those between i and j are others'.
      const size_t j = std::min(n, next.exchange(n, std::memory_order_relaxed));
      w.counts().time_pruned += b.layouts + s.layouts_after[j];
      done.fetch_add(1 + (n - j), std::memory_order_relaxed);
      continue;
    }
    w.run_block(b);
    done.fetch_add(1, std::memory_order_relaxed);
  }
  return w.finish();
}

}  // namespace parplan::planner::detail
