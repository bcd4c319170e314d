// The layout search: enumerate (dp, tp, pp, cp) splits of the GPUs, then every micro-batch,
// recomputation, sequence-parallel, ZeRO/offload and schedule choice inside each split; memory
// first, step time only for what fits; a bounded top-k per thread, merged at the end.
#include "parplan/planner/search.hpp"

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>
#include <tuple>

#include "evaluator.hpp"
#include "parplan/model/error.hpp"

namespace parplan::planner {

namespace {

using Clock = std::chrono::steady_clock;

struct Split {
  int32_t dp, tp, pp, cp;
};

std::vector<int32_t> divisors(int64_t n) {
  std::vector<int32_t> d;
  for (int64_t i = 1; i * i <= n; ++i)
    if (n % i == 0) {
      d.push_back(static_cast<int32_t>(i));
      if (i != n / i) d.push_back(static_cast<int32_t>(n / i));
    }
  std::sort(d.begin(), d.end());
  return d;
}

bool tp_divides_heads(const Model& m, int64_t tp) {
  return m.heads % tp == 0 && (m.kv_heads % tp == 0 || tp % m.kv_heads == 0);
}
bool cp_divides_seq(const Training& t, int64_t cp) {
  return t.seq_len % cp == 0 && (cp == 1 || t.seq_len % (2 * cp) == 0);
}

template <class T>
bool allowed(const std::optional<T>& fixed, T v) {
  return !fixed || *fixed == v;
}

// ZeRO stage and offload pairs: optimizer offload needs ZeRO >= 1 (ZeRO-Offload), parameter
// offload needs ZeRO-3 (ZeRO-Infinity).
struct ZeroOffload {
  int32_t zero;
  Offload offload;
};
constexpr ZeroOffload kZeroOffload[] = {{0, Offload::None},      {1, Offload::None},
                                        {1, Offload::Optimizer}, {2, Offload::None},
                                        {2, Offload::Optimizer}, {3, Offload::None},
                                        {3, Offload::Optimizer}, {3, Offload::OptimizerAndParams}};
constexpr Recompute kRecompute[] = {Recompute::None, Recompute::Selective, Recompute::Full};

auto layout_key(const Layout& l) {
  return std::make_tuple(l.dp, l.tp, l.pp, l.cp, l.micro_batch, l.zero, l.recompute,
                         l.sequence_parallel, l.schedule, l.virtual_stages, l.offload, l.ep, l.etp);
}

// Bounded top-k: a max-heap under `better`, so the worst kept candidate is at the front.
class TopK {
 public:
  explicit TopK(size_t k) : k_(k) { heap_.reserve(k); }
  bool full() const { return heap_.size() >= k_; }
  const Candidate& worst() const { return heap_.front(); }
  void offer(const Layout& l, const cost::StepCost& c) {
    if (k_ == 0) return;
    if (heap_.size() < k_) {
      heap_.push_back(Candidate{l, c});
      std::push_heap(heap_.begin(), heap_.end(), better);
      return;
    }
    Candidate cand{l, c};
    if (!better(cand, heap_.front())) return;
    std::pop_heap(heap_.begin(), heap_.end(), better);
    heap_.back() = cand;
    std::push_heap(heap_.begin(), heap_.end(), better);
  }
  std::vector<Candidate>& items() { return heap_; }

 private:
  size_t k_;
  std::vector<Candidate> heap_;
};

// Everything invariant over the search, shared read-only by the workers.
struct Space {
  const Model& m;
  const Cluster& c;
  const Training& t;
  const Fixed& f;
  std::vector<Split> splits;
};

struct WorkerResult {
  int64_t evaluated = 0;
  int64_t feasible = 0;
  int64_t pruned = 0;
  std::vector<Candidate> top;
  Layout smallest;
  double smallest_memory_bytes = 0;
};

// Micro-batch divisors of global_batch/dp, precomputed per distinct dp.
struct MicroBatches {
  std::vector<int32_t> dps;
  std::vector<std::vector<int32_t>> lists;
  const std::vector<int32_t>& of(int32_t dp) const {
    auto it = std::lower_bound(dps.begin(), dps.end(), dp);
    return lists[static_cast<size_t>(it - dps.begin())];
  }
};

// Expert parallelism of a MoE model (Megatron-Core parallel folding): ep divides the experts,
// ep * etp divides tp * cp * dp; etp is 1 or the attention's tp. Dense models: (1, 1).
// EP is placed inside a node when possible: of the EP groups that fit in a node only the largest
// is tried (it holds the fewest experts per GPU and feeds each expert GEMM the most rows, for an
// all-to-all over NVLink that grows only as (ep - 1) / ep), plus no EP at all and every EP group
// that spans nodes (those trade InfiniBand all-to-all for memory). A pinned ep is always tried.
std::vector<std::pair<int32_t, int32_t>> ep_choices(const Model& m, const Split& sp,
                                                    const Fixed& f, int64_t gpus_per_node) {
  if (!m.is_moe()) return {{1, 1}};
  std::vector<std::pair<int32_t, int32_t>> out;
  const int64_t fold = int64_t(sp.tp) * sp.cp * sp.dp;
  std::vector<int32_t> etps = {1};
  if (sp.tp > 1) etps.push_back(sp.tp);
  for (int32_t etp : etps) {
    if (!allowed(f.etp, etp)) continue;
    std::vector<int32_t> eps;
    for (int32_t ep : divisors(m.moe.experts))
      if (allowed(f.ep, ep) && fold % (int64_t(ep) * etp) == 0) eps.push_back(ep);
    int32_t in_node = 1;  // the largest EP group inside a node
    for (int32_t ep : eps)
      if (int64_t(ep) * etp <= gpus_per_node) in_node = std::max(in_node, ep);
    for (int32_t ep : eps)
      if (f.ep || ep == 1 || ep == in_node || int64_t(ep) * etp > gpus_per_node)
        out.push_back({ep, etp});
  }
  return out;
}

class Worker {
 public:
  Worker(const Space& s, const MicroBatches& mbs, size_t k)
      : s_(s), mbs_(mbs), eval_(s.m, s.c, s.t), top_(k) {}

  void run_split(const Split& sp, const std::atomic<bool>* cancel) {
    for (auto [ep, etp] : ep_choices(s_.m, sp, s_.f, s_.c.gpus_per_node))
      run_split(sp, ep, etp, cancel);
  }
  void run_split(const Split& sp, int32_t ep, int32_t etp, const std::atomic<bool>* cancel) {
    const Fixed& f = s_.f;
    const Training& t = s_.t;
    const int64_t max_chunks_per_stage = s_.m.layers / sp.pp;  // pp * v <= layers
    Layout l;
    l.dp = sp.dp;
    l.tp = sp.tp;
    l.pp = sp.pp;
    l.cp = sp.cp;
    l.ep = ep;
    l.etp = etp;
    const bool sp_possible = sp.tp > 1 && (t.seq_len / sp.cp) % sp.tp == 0;
    for (int32_t mb : mbs_.of(sp.dp)) {
      if (!allowed(f.micro_batch, mb)) continue;
      if (cancel && cancel->load(std::memory_order_relaxed)) return;
      l.micro_batch = mb;
      const int64_t micro_batches = t.global_batch / (int64_t(sp.dp) * mb);
      for (Recompute rc : kRecompute) {
        if (!allowed(f.recompute, rc)) continue;
        l.recompute = rc;
        for (int seqp = 0; seqp < 2; ++seqp) {
          const bool on = seqp == 1;
          if (on && !sp_possible) continue;
          if (!allowed(f.sequence_parallel, on)) continue;
          l.sequence_parallel = on;
          // Time pruning: a layout whose lower bound is already slower than this worker's k-th
          // best cannot enter the top k (tests check the top list is unchanged by it).
          bound_ = eval_.step_lower_bound(l, micro_batches);
          for (const ZeroOffload& zo : kZeroOffload) {
            if (!allowed(f.zero, zo.zero) || !allowed(f.offload, zo.offload)) continue;
            // With one data-parallel rank ZeRO shards nothing: keep stage 0 unless offloading.
            if (sp.dp == 1 && !f.zero && zo.zero > 0 && zo.offload == Offload::None) continue;
            l.zero = zo.zero;
            l.offload = zo.offload;
            run_schedules(l, max_chunks_per_stage, micro_batches);
          }
        }
      }
    }
  }

  WorkerResult finish() {
    return WorkerResult{evaluated_, feasible_,      pruned_, std::move(top_.items()),
                        smallest_,  smallest_bytes_};
  }

 private:
  void run_schedules(Layout& l, int64_t max_chunks_per_stage, int64_t micro_batches) {
    const Fixed& f = s_.f;
    if (l.pp == 1) {
      // The schedule is moot without a pipeline; 1F1B unless pinned to GPipe.
      Schedule s =
          f.schedule && *f.schedule == Schedule::GPipe ? Schedule::GPipe : Schedule::OneFOneB;
      if (f.schedule && *f.schedule == Schedule::Interleaved) return;
      if (!allowed(f.virtual_stages, 1)) return;
      l.schedule = s;
      l.virtual_stages = 1;
      evaluate(l);
      return;
    }
    for (Schedule s : {Schedule::GPipe, Schedule::OneFOneB}) {
      if (!allowed(f.schedule, s) || !allowed(f.virtual_stages, 1)) continue;
      l.schedule = s;
      l.virtual_stages = 1;
      evaluate(l);
    }
    // Interleaved 1F1B: v model chunks per stage, micro-batches a multiple of pp (Megatron-LM).
    // pp * v <= layers; chunks need not divide the layers evenly.
    if (!allowed(f.schedule, Schedule::Interleaved) || micro_batches % l.pp != 0) return;
    l.schedule = Schedule::Interleaved;
    for (int64_t v = 2; v <= max_chunks_per_stage; ++v) {
      if (!allowed(f.virtual_stages, int32_t(v))) continue;
      l.virtual_stages = static_cast<int32_t>(v);
      evaluate(l);
    }
  }

  void evaluate(const Layout& l) {
    ++evaluated_;
    const cost::MemoryBreakdown mem = eval_.memory(l);
    if (evaluated_ == 1 || mem.total < smallest_bytes_) {
      smallest_bytes_ = mem.total;
      smallest_ = l;
    }
    if (!mem.fits) return;
    ++feasible_;
    if (top_.full() && bound_ > top_.worst().cost.step_time_s) {
      ++pruned_;
      return;
    }
    const cost::StepCost sc = eval_.step(l, mem);
    // A dtype without a peak (0 FLOP/s) gives an infinite step: nothing to rank.
    if (!(sc.step_time_s > 0 && sc.step_time_s < 1e300)) return;
    top_.offer(l, sc);
  }

  const Space& s_;
  const MicroBatches& mbs_;
  detail::Evaluator eval_;
  TopK top_;
  int64_t evaluated_ = 0, feasible_ = 0, pruned_ = 0;
  double bound_ = 0;
  Layout smallest_;
  double smallest_bytes_ = 0;
};

std::string str(int64_t v) {
  return std::to_string(v);
}

// Pinned degrees that no layout can satisfy get an error naming the pin and the fix, instead of
// an empty search.
void check_fixed(const Model& m, const Training& t, int64_t gpus, bool allow_idle, const Fixed& f) {
  if (f.tp && !tp_divides_heads(m, *f.tp))
    throw Error("--fix tp=" + str(*f.tp) + ": tp must divide the model's heads (" + str(m.heads) +
                ") and divide or be a multiple of kv_heads (" + str(m.kv_heads) +
                "); pick a divisor of " + str(m.heads));
  if (f.pp && *f.pp > m.layers)
    throw Error("--fix pp=" + str(*f.pp) + ": pp exceeds the model's layers (" + str(m.layers) +
                "); lower pp");
  if (f.pp && f.virtual_stages && int64_t(*f.pp) * *f.virtual_stages > m.layers)
    throw Error("--fix v=" + str(*f.virtual_stages) + ": pp*v exceeds the model's layers (" +
                str(m.layers) + "); lower v or pp");
  if (f.virtual_stages && *f.virtual_stages > 1 && f.schedule &&
      *f.schedule != Schedule::Interleaved)
    throw Error("--fix v=" + str(*f.virtual_stages) + ": virtual stages need schedule=interleaved");
  if (f.virtual_stages && *f.virtual_stages > 1 && f.pp && *f.pp < 2)
    throw Error("--fix v=" + str(*f.virtual_stages) + ": interleaving needs pp >= 2");
  if (f.schedule && *f.schedule == Schedule::Interleaved && f.pp && *f.pp < 2)
    throw Error("--fix schedule=interleaved: needs pp >= 2");
  if (f.cp && !cp_divides_seq(t, *f.cp))
    throw Error("--fix cp=" + str(*f.cp) + ": 2*cp must divide train.seq_len (" + str(t.seq_len) +
                ")");
  if (f.dp && t.global_batch % *f.dp != 0)
    throw Error("--fix dp=" + str(*f.dp) + ": dp must divide train.global_batch (" +
                str(t.global_batch) + ")");
  if (f.micro_batch && t.global_batch % *f.micro_batch != 0)
    throw Error("--fix mb=" + str(*f.micro_batch) +
                ": the micro-batch must divide train.global_batch (" + str(t.global_batch) + ")");
  if (f.dp && f.micro_batch && t.global_batch % (int64_t(*f.dp) * *f.micro_batch) != 0)
    throw Error("--fix dp, mb: dp*mb (" + str(int64_t(*f.dp) * *f.micro_batch) +
                ") must divide train.global_batch (" + str(t.global_batch) + ")");
  if (f.sequence_parallel && *f.sequence_parallel && f.tp && *f.tp == 1)
    throw Error("--fix sp=true: sequence parallelism needs tp > 1");
  if (f.offload && *f.offload == Offload::OptimizerAndParams && f.zero && *f.zero < 3)
    throw Error("--fix offload=optimizer+params: parameter offload needs zero=3");
  if (f.offload && *f.offload == Offload::Optimizer && f.zero && *f.zero < 1)
    throw Error("--fix offload=optimizer: optimizer offload needs zero >= 1");
  if ((f.ep && *f.ep > 1) || (f.etp && *f.etp > 1)) {
    if (!m.is_moe())
      throw Error("--fix ep/etp: expert parallelism needs a MoE model (model.moe); drop ep and etp");
    if (f.ep && m.moe.experts % *f.ep != 0)
      throw Error("--fix ep=" + str(*f.ep) + ": ep must divide the model's experts (" +
                  str(m.moe.experts) + ")");
  }
  int64_t pinned = 1;
  std::string names;
  for (auto [name, v] :
       {std::pair{"dp", f.dp}, std::pair{"tp", f.tp}, std::pair{"pp", f.pp}, std::pair{"cp", f.cp}})
    if (v) {
      pinned *= *v;
      if (!names.empty()) names.push_back('*');
      names.append(name);
    }
  if (pinned > gpus)
    throw Error("--fix: " + names + " = " + str(pinned) + " exceeds the " + str(gpus) +
                " GPUs; lower the pinned degrees or raise --gpus");
  if (!allow_idle && gpus % pinned != 0)
    throw Error("--fix: " + names + " = " + str(pinned) + " does not divide the " + str(gpus) +
                " GPUs (dp*tp*pp*cp must equal the GPU count); pick degrees that divide " +
                str(gpus) + ", change --gpus, or pass --allow-idle");
}

std::vector<Split> enumerate_splits(const Model& m, const Training& t, int64_t gpus,
                                    bool allow_idle, const Fixed& f) {
  std::vector<Split> out;
  const auto dps = divisors(t.global_batch);
  for (int32_t tp : divisors(m.heads)) {
    if (tp > gpus || !allowed(f.tp, tp) || !tp_divides_heads(m, tp)) continue;
    // Uneven stages are valid (the fullest stage paces the pipeline): every pp up to the layers.
    for (int32_t pp = 1; pp <= m.layers && int64_t(tp) * pp <= gpus; ++pp) {
      if (!allowed(f.pp, pp)) continue;
      if (!allow_idle && gpus % (int64_t(tp) * pp) != 0) continue;
      for (int32_t cp : divisors(t.seq_len)) {
        const int64_t tpc = int64_t(tp) * pp * cp;
        if (tpc > gpus || !allowed(f.cp, cp) || !cp_divides_seq(t, cp)) continue;
        if (!allow_idle) {
          if (gpus % tpc != 0) continue;
          const int64_t dp = gpus / tpc;
          if (t.global_batch % dp != 0 || !allowed(f.dp, int32_t(dp))) continue;
          out.push_back({static_cast<int32_t>(dp), tp, pp, cp});
          continue;
        }
        for (int32_t dp : dps) {
          if (tpc * dp > gpus) break;
          if (allowed(f.dp, dp)) out.push_back({dp, tp, pp, cp});
        }
      }
    }
  }
  return out;
}

}  // namespace

bool better(const Candidate& a, const Candidate& b) {
  if (a.cost.step_time_s != b.cost.step_time_s) return a.cost.step_time_s < b.cost.step_time_s;
  if (a.cost.memory.total != b.cost.memory.total) return a.cost.memory.total < b.cost.memory.total;
  return layout_key(a.layout) < layout_key(b.layout);
}

SearchResult search(const Model& m, const Cluster& c, const Training& t, const SearchOptions& o) {
  const auto start = Clock::now();
  const int64_t gpus = o.gpus > 0 ? o.gpus : c.total_gpus();
  if (gpus > c.total_gpus())
    throw Error("--gpus " + str(gpus) + " exceeds the cluster's " + str(c.total_gpus()) +
                " GPUs; lower --gpus or add nodes to the cluster");
  if (gpus < 1) throw Error("the cluster has no GPUs; set cluster.nodes and gpus_per_node");
  if (m.layers < 1 || m.heads < 1 || t.global_batch < 1 || t.seq_len < 1)
    throw Error(
        "search needs model.layers, model.heads, train.global_batch and train.seq_len >= 1");
  if (o.top_k < 1) throw Error("--top must be >= 1, got " + str(o.top_k));
  check_fixed(m, t, gpus, o.allow_idle, o.fixed);

  Space space{m, c, t, o.fixed, enumerate_splits(m, t, gpus, o.allow_idle, o.fixed)};
  MicroBatches mbs;
  for (const Split& s : space.splits) mbs.dps.push_back(s.dp);
  std::sort(mbs.dps.begin(), mbs.dps.end());
  mbs.dps.erase(std::unique(mbs.dps.begin(), mbs.dps.end()), mbs.dps.end());
  for (int32_t dp : mbs.dps) mbs.lists.push_back(divisors(t.global_batch / dp));

  const size_t n_splits = space.splits.size();
  int threads = o.threads > 0 ? o.threads : int(std::max(1u, std::thread::hardware_concurrency()));
  threads = int(std::min<size_t>(size_t(threads), std::max<size_t>(1, n_splits)));

  std::atomic<size_t> next{0}, done{0};
  std::vector<WorkerResult> results(static_cast<size_t>(threads));
  std::mutex mu;
  std::condition_variable cv;
  int finished = 0;
  auto work = [&](int id) {
    Worker w(space, mbs, size_t(o.top_k));
    for (;;) {
      if (o.cancel && o.cancel->load(std::memory_order_relaxed)) break;
      size_t i = next.fetch_add(1, std::memory_order_relaxed);
      if (i >= n_splits) break;
      w.run_split(space.splits[i], o.cancel);
      done.fetch_add(1, std::memory_order_relaxed);
    }
    results[size_t(id)] = w.finish();
    std::lock_guard lock(mu);
    ++finished;
    cv.notify_all();
  };

  if (threads == 1 && !o.progress) {
    work(0);
  } else {
    std::vector<std::jthread> pool;
    pool.reserve(size_t(threads));
    for (int i = 0; i < threads; ++i) pool.emplace_back(work, i);
    std::unique_lock lock(mu);
    while (finished < threads) {
      cv.wait_for(lock, std::chrono::milliseconds(50));
      if (o.progress && finished < threads) {
        lock.unlock();
        o.progress(n_splits ? double(done.load()) / double(n_splits) : 1.0);
        lock.lock();
      }
    }
  }

  SearchResult r;
  for (auto& w : results) {
    r.evaluated += w.evaluated;
    r.feasible += w.feasible;
    r.time_pruned += w.pruned;
    r.top.insert(r.top.end(), w.top.begin(), w.top.end());
    if (w.evaluated > 0 &&
        (r.smallest_memory_bytes == 0 || w.smallest_memory_bytes < r.smallest_memory_bytes)) {
      r.smallest_memory_bytes = w.smallest_memory_bytes;
      r.smallest = w.smallest;
    }
  }
  std::sort(r.top.begin(), r.top.end(), better);
  if (r.top.size() > size_t(o.top_k)) r.top.resize(size_t(o.top_k));
  r.cancelled = o.cancel && o.cancel->load();
  if (o.progress) o.progress(1.0);
  r.search_time_s = std::chrono::duration<double>(Clock::now() - start).count();
  return r;
}

}  // namespace parplan::planner
