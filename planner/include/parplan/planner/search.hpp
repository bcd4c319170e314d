#pragma once
// Enumerates every valid layout for N GPUs, prunes what does not fit, ranks by predicted step
// time (ties: less memory).
#include <atomic>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "parplan/cost/step.hpp"
#include "parplan/model/cluster.hpp"
#include "parplan/model/layout.hpp"
#include "parplan/model/model.hpp"
#include "parplan/model/training.hpp"

namespace parplan::planner {

// Dimensions the user pins (`--fix tp=8,pp=8,zero=1,recompute=selective,...`).
struct Fixed {
  std::optional<int32_t> dp, tp, pp, cp, micro_batch, zero, virtual_stages;
  std::optional<Recompute> recompute;
  std::optional<bool> sequence_parallel;
  std::optional<Schedule> schedule;
  std::optional<Offload> offload;
  std::optional<int32_t> ep, etp;  // expert parallelism (MoE models)
  std::optional<CpKind> cp_kind;              // ring | ulysses | usp (moot where cp = 1)
  std::optional<int32_t> shard_group, tiles;  // HSDP group (0: the whole DP group), tiling
};
// Parses "tp=8,pp=8,zero=1,recompute=selective,sp=true,schedule=1f1b,v=2,offload=none,ep=8,etp=1,
// cp_kind=ulysses,shard_group=8,tiles=4".
// Throws parplan::Error naming the bad key or value.
Fixed parse_fixed(const std::string& text);

struct SearchOptions {
  int64_t gpus = 0;         // GPUs to use; 0: the whole cluster
  bool allow_idle = false;  // accept dp*tp*pp*cp <= gpus
  Fixed fixed;
  int top_k = 10;
  int threads = 0;                                     // 0: all hardware threads
  std::function<void(double fraction_done)> progress;  // called from the calling thread
  const std::atomic<bool>* cancel = nullptr;           // set to stop early
  // Tests only: no pruning, every layout's memory and (when it fits) step time is computed; the
  // top list must equal the pruned search's (tests/planner/search_pruning_test.cpp).
  bool exhaustive = false;
};

struct Candidate {
  Layout layout;
  cost::StepCost cost;
};
// The ranking: shorter predicted step first; ties: less memory per GPU, then layout fields (so the
// order does not depend on the thread count).
bool better(const Candidate& a, const Candidate& b);

struct SearchResult {
  // Every layout of the space is evaluated or pruned: layouts = evaluated + time_pruned +
  // memory_pruned. Pruned counts depend on the thread count (how early the top k fill); the top
  // list does not.
  int64_t layouts = 0;        // layouts in the search space
  int64_t evaluated = 0;      // layouts whose memory the cost model computed
  int64_t feasible = 0;       // of them, those that fit in memory
  int64_t predicted = 0;      // of those, whose step time was predicted (the others: bound)
  int64_t time_pruned = 0;    // skipped before memory: a lower bound of their step time is
                              // above k layouts already found
  int64_t memory_pruned = 0;  // skipped: GPipe / interleaved where the same layout with 1F1B,
                              // which needs no more memory, does not fit
  double search_time_s = 0;
  bool cancelled = false;
  std::vector<Candidate> top;  // best first
  // The evaluated layout with the least memory per GPU, fitting or not (for "nothing fits" advice).
  Layout smallest;
  double smallest_memory_bytes = 0;  // its memory per GPU; 0 when nothing was evaluated
};

// Throws parplan::Error when the inputs or the pinned dimensions admit no layout at all (the
// message names the pin and the fix); an empty `top` means no layout fits in memory.
SearchResult search(const Model& m, const Cluster& c, const Training& t, const SearchOptions& o);

}  // namespace parplan::planner
