#pragma once
// Internal to the search: the space (splits, blocks), the bounded top-k and the shared pruning
// threshold. search.cpp builds the space, search_worker.cpp walks it (docs/planner.md "Speed").
#include <algorithm>
#include <atomic>
#include <functional>
#include <cstdint>
#include <mutex>
#include <vector>

#include "parplan/planner/search.hpp"

namespace parplan::planner::detail {

// A (dp, tp, pp, cp) split of the GPUs with its CP kind and expert parallelism.
struct Split {
  int32_t dp, tp, pp, cp;
  CpKind cp_kind = CpKind::Ring;
  int32_t ep = 1, etp = 1;
};

// ZeRO stage, offload and HSDP shard group of one layout (the inner choices of a block).
struct ZeroChoice {
  int32_t zero;
  Offload offload;
  int32_t shard_group;
  // Its model states (parameters, gradients, optimizer states: independent of the micro-batch,
  // recomputation and SP) on the first and last stage with v = 1 (set in phase 1).
  double states[2] = {0, 0};
};
// Pipeline schedule and virtual stages.
struct ScheduleChoice {
  Schedule schedule;
  int32_t v;
};

// A block: one split, micro-batch, recomputation and sequence-parallel choice; every ZeRO /
// offload / shard-group and schedule choice inside it shares its step-time lower bound.
struct Block {
  uint32_t split;
  int32_t micro_batch;
  Recompute recompute;
  // Further recomputation modes (bit 1 << Recompute) whose blocks this one's bound (taken
  // without recomputation, which only adds) stands for until the walk reaches it: they are
  // walked right after it, each with its own bound (search_worker.cpp). One entry instead of
  // three keeps phase 1's array small (1M blocks for DeepSeek-V3).
  uint8_t lazy_modes;
  bool sequence_parallel;
  double bound;              // lower bound of every layout's step time in the block(s)
  double layer_s;            // per-layer forward + backward + recomputation bound
  double ends_min, ends_max; // embedding / logits time on the critical stage: least, most
  int64_t layouts;           // layouts in the block and its lazy modes' blocks
};

// Every per-split choice list, built once.
struct Space {
  const Model& m;
  const Cluster& c;
  const Training& t;
  const Fixed& f;
  std::vector<Split> splits;
  std::vector<std::vector<ZeroChoice>> zero_choices;  // per split
  // The blocks per group of splits (search.cpp phase 1), groups and blocks in enumeration order;
  // kept per group, never merged into one array (1M blocks for DeepSeek-V3: copying them cost a
  // third of the search).
  std::vector<std::vector<Block>> blocks;
  const Block& block(uint64_t id) const { return blocks[size_t(id >> 32)][size_t(id & 0xffffffffu)]; }
  bool exhaustive = false;
};

// The schedules searched for a pipeline of `pp` stages and `micro_batches` micro-batches
// (pp = 1: one entry, the moot 1F1B or a pinned GPipe; else GPipe, 1F1B and interleaved v = 2 ..
// layers / pp where the micro-batches are a multiple of pp), filtered by the pins.
// Zero-bubble and DualPipe schedules join where the training's framework runs them.
void schedule_choices(const Model& m, const Training& t, const Fixed& f, int32_t pp,
                      int64_t micro_batches, std::vector<ScheduleChoice>& out);
// The ZeRO / offload / shard-group choices of a split, filtered by the pins.
std::vector<ZeroChoice> zero_choices(const Cluster& c, const Training& t, const Fixed& f,
                                     const Split& sp);

// Bounded top-k: a max-heap under `better`, so the worst kept candidate is at the front.
class TopK {
 public:
  explicit TopK(size_t k) : k_(k) { heap_.reserve(k); }
  bool full() const { return heap_.size() >= k_; }
  const Candidate& worst() const { return heap_.front(); }
  // True when `l` entered the list.
  bool offer(const Layout& l, const cost::StepCost& c);
  std::vector<Candidate>& items() { return heap_; }

 private:
  size_t k_;
  std::vector<Candidate> heap_;
};

// The k-th best step time found so far (any layout slower than it cannot enter the top k); only
// ever falls.
class Threshold {
 public:
  double get() const { return v_.load(std::memory_order_relaxed); }
  void lower(double s) {
    double cur = v_.load(std::memory_order_relaxed);
    while (s < cur && !v_.compare_exchange_weak(cur, s, std::memory_order_relaxed)) {
    }
  }

 private:
  std::atomic<double> v_{1e300};
};

// The blocks in bound order, taken lazily from a binary min-heap (most are never taken: once the
// best bound left exceeds the threshold, every block left is pruned at once).
class BlockQueue {
 public:
  // Ids: group << 32 | index in the group (Space::block), ordered as the enumeration.
  explicit BlockQueue(const std::vector<std::vector<Block>>& groups) {
    size_t n = 0;
    for (const auto& g : groups) n += g.size();
    heap_.reserve(n);
    for (size_t g = 0; g < groups.size(); ++g)
      for (size_t i = 0; i < groups[g].size(); ++i) {
        heap_.push_back({groups[g][i].bound, uint64_t(g) << 32 | uint64_t(i)});
        left_ += groups[g][i].layouts;
      }
    std::make_heap(heap_.begin(), heap_.end(), std::greater<>());
  }
  // The block with the smallest bound left (ties: the smaller index). False when none is left,
  // or when that bound exceeds `threshold` (not with `exhaustive`): then every block left is
  // dropped, `blocks` and `layouts` say how many.
  bool pop(double threshold, bool exhaustive, uint64_t& index, size_t& blocks, int64_t& layouts,
           const Space& all) {
    std::lock_guard lock(mu_);
    blocks = 0;
    layouts = 0;
    if (heap_.empty()) return false;
    if (!exhaustive && heap_.front().first > threshold) {
      blocks = heap_.size();
      layouts = left_;
      heap_.clear();
      left_ = 0;
      return false;
    }
    std::pop_heap(heap_.begin(), heap_.end(), std::greater<>());
    index = heap_.back().second;
    heap_.pop_back();
    left_ -= all.block(index).layouts;
    return true;
  }

 private:
  std::mutex mu_;
  std::vector<std::pair<double, uint64_t>> heap_;
  int64_t left_ = 0;
};

// The merged top k, shared by the workers, and its threshold.
class SharedTop {
 public:
  explicit SharedTop(size_t k) : top_(k) {}
  double threshold() const { return threshold_.get(); }
  void offer(const Layout& l, const cost::StepCost& c) {
    if (c.step_time_s > threshold_.get()) return;  // k kept layouts are faster
    std::lock_guard lock(mu_);
    if (top_.offer(l, c) && top_.full()) threshold_.lower(top_.worst().cost.step_time_s);
  }
  std::vector<Candidate>& items() { return top_.items(); }

 private:
  std::mutex mu_;
  TopK top_;
  Threshold threshold_;
};

struct Counts {
  int64_t evaluated = 0, feasible = 0, predicted = 0, time_pruned = 0, memory_pruned = 0;
};

struct WorkerResult {
  Counts n;
  Layout smallest;
  double smallest_memory_bytes = 0;
};

// Walks blocks in bound order from the shared queue until every block is taken or pruned.
WorkerResult run_worker(const Space& s, SharedTop& top, BlockQueue& queue,
                        std::atomic<size_t>& done, const std::atomic<bool>* cancel);

}  // namespace parplan::planner::detail
