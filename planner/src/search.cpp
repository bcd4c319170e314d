// The layout search: enumerate (dp, tp, pp, cp, cp_kind, ep, etp) splits of the GPUs and their
// blocks (micro-batch, recomputation, sequence parallelism), bound every block's step time, then
// walk the blocks best bound first (search_worker.cpp): every ZeRO/offload/shard-group and
// schedule choice, memory first, step time only for what fits and can still enter the top k; a
// bounded top-k per thread, merged at the end.
#include "parplan/planner/search.hpp"

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>
#include <tuple>

#include "evaluator.hpp"
#include "search_space.hpp"
#include "parplan/cost/context_parallel.hpp"
#include "parplan/cost/fp8.hpp"
#include "parplan/cost/sharding.hpp"
#include "parplan/model/error.hpp"

namespace parplan::planner {

namespace {

using Clock = std::chrono::steady_clock;

using detail::Split;
using detail::ZeroChoice;
using detail::ScheduleChoice;

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
                         l.sequence_parallel, l.schedule, l.virtual_stages, l.offload, l.ep, l.etp,
                         l.cp_kind, l.shard_group, l.tiles);
}

// Expert parallelism of a MoE model (Megatron-Core parallel folding): ep divides the experts,
// ep * etp divides tp * cp * dp; etp is 1 or the attention's tp. Dense models: (1, 1).
// EP is placed inside the NVLink domain (the node on HGX, the rack on NVL72) when possible: of the
// EP groups that fit in it only the largest
// is tried (it holds the fewest experts per GPU and feeds each expert GEMM the most rows, for an
// all-to-all over NVLink that grows only as (ep - 1) / ep), plus no EP at all and every EP group
// that spans nodes (those trade InfiniBand all-to-all for memory). A pinned ep is always tried.
std::vector<std::pair<int32_t, int32_t>> ep_choices(const Model& m, const Split& sp,
                                                    const Fixed& f, int64_t domain_gpus) {
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
    int32_t in_node = 1;  // the largest EP group inside the NVLink domain
    for (int32_t ep : eps)
      if (int64_t(ep) * etp <= domain_gpus) in_node = std::max(in_node, ep);
    for (int32_t ep : eps)
      if (f.ep || ep == 1 || ep == in_node || int64_t(ep) * etp > domain_gpus)
        out.push_back({ep, etp});
  }
  return out;
}

std::string str(int64_t v) {
  return std::to_string(v);
}

// Pins of the CP kind, HSDP group and tiles that no layout can satisfy.
void check_fixed_cp_hsdp(const Model& m, const Fixed& f) {
  if (f.cp_kind && *f.cp_kind == CpKind::Ulysses && f.cp && *f.cp > 1) {
    const int32_t tp = f.tp.value_or(1);
    if (!cost::ulysses_splits_heads(m, tp, *f.cp))
      throw Error("--fix cp=" + str(*f.cp) + ",cp_kind=ulysses: Ulysses splits attention heads, "
                  "so cp must divide the heads per TP rank (" + str(m.heads / tp) +
                  ") and the KV heads per rank (" + str(std::max<int64_t>(1, m.kv_heads / tp)) +
                  ") must divide it or be a multiple of it; use cp_kind=ring or usp, or a "
                  "smaller cp");
  }
  if (f.shard_group && *f.shard_group > 0 && f.zero && *f.zero < 3)
    throw Error("--fix shard_group=" + str(*f.shard_group) +
                ": hybrid sharding needs zero=3 (FSDP / ZeRO-3); set zero=3 or drop shard_group");
  if (f.shard_group && *f.shard_group > 0 && f.dp && *f.dp % *f.shard_group != 0)
    throw Error("--fix shard_group=" + str(*f.shard_group) + ": must divide dp (" + str(*f.dp) +
                ")");
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
  check_fixed_cp_hsdp(m, f);
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

std::vector<Split> enumerate_splits(const Model& m, const Cluster& c, const Training& t,
                                    int64_t gpus, bool allow_idle, const Fixed& f) {
  std::vector<Split> out;
  // Context parallelism three ways (cp > 1): ring always; Ulysses where its degree splits the
  // heads; USP where the derived Ulysses share is neither 1 nor cp (else it equals one of them).
  auto push = [&](int32_t dp, int32_t tp, int32_t pp, int32_t cp) {
    if (cp == 1) return out.push_back({dp, tp, pp, cp, CpKind::Ring});
    if (allowed(f.cp_kind, CpKind::Ring)) out.push_back({dp, tp, pp, cp, CpKind::Ring});
    if (allowed(f.cp_kind, CpKind::Ulysses) && cost::ulysses_splits_heads(m, tp, cp))
      out.push_back({dp, tp, pp, cp, CpKind::Ulysses});
    Layout usp{.dp = dp, .tp = tp, .pp = pp, .cp = cp};
    usp.cp_kind = CpKind::Usp;
    const int32_t u = cost::ulysses_degree(m, c, usp);
    if (allowed(f.cp_kind, CpKind::Usp) && u > 1 && u < cp)
      out.push_back({dp, tp, pp, cp, CpKind::Usp});
  };
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
          push(static_cast<int32_t>(dp), tp, pp, cp);
          continue;
        }
        for (int32_t dp : dps) {
          if (tpc * dp > gpus) break;
          if (allowed(f.dp, dp)) push(dp, tp, pp, cp);
        }
      }
    }
  }
  return out;
}

// The blocks of splits [first, last) (the same split but for the CP kind) with their bounds
// (docs/planner.md "Speed"), in enumeration order. Selective and full recomputation get the
// bound without recomputation (recomputation only adds) until the walk reaches them.
void split_blocks(detail::Space& s, uint32_t first, uint32_t last, const detail::Evaluator& ev,
                  std::vector<ScheduleChoice>& scheds, std::vector<detail::Block>& out) {
  const Split& sp = s.splits[first];
  const Fixed& f = s.f;
  Layout l;
  l.dp = sp.dp;
  l.tp = sp.tp;
  l.pp = sp.pp;
  l.cp = sp.cp;
  l.ep = sp.ep;
  l.etp = sp.etp;
  for (uint32_t i = first; i < last; ++i)
    for (ZeroChoice& z : s.zero_choices[i]) {
      Layout st = l;
      st.cp_kind = s.splits[i].cp_kind;
      st.zero = z.zero;
      st.offload = z.offload;
      st.shard_group = z.shard_group;
      st.tiles = f.tiles.value_or(1);
      for (int k = 0; k < 2; ++k) {
        const cost::MemoryBreakdown mb = ev.memory(st, k == 0 ? 0 : sp.pp - 1);
        z.states[k] = mb.params + mb.grads + mb.optimizer;
      }
    }
  const int64_t zero_choices = int64_t(s.zero_choices[first].size());
  if (zero_choices == 0) return;
  const bool sp_possible = sp.tp > 1 && (s.t.seq_len / sp.cp) % sp.tp == 0;
  const bool lazy = allowed(f.recompute, Recompute::None);
  const auto mbs = divisors(s.t.global_batch / sp.dp);
  // At most this many blocks (reserved: no reallocation while filling).
  out.reserve(mbs.size() * 2 * (last - first) * (lazy ? 1 : std::size(kRecompute)));
  for (int32_t mb : mbs) {
    if (!allowed(f.micro_batch, mb)) continue;
    const int64_t micro_batches = s.t.global_batch / (int64_t(sp.dp) * mb);
    detail::schedule_choices(s.m, s.t, f, sp.pp, micro_batches, scheds);
    if (scheds.empty()) continue;
    l.micro_batch = mb;
    for (bool on : {false, true}) {
      if ((on && !sp_possible) || !allowed(f.sequence_parallel, on)) continue;
      l.sequence_parallel = on;
      bool wanted[3];
      for (Recompute rc : kRecompute)
        wanted[size_t(rc)] = allowed(f.recompute, rc) && !(lazy && rc != Recompute::None);
      const int64_t layouts = zero_choices * int64_t(scheds.size());
      for (uint32_t i = first; i < last; ++i) {
        l.cp_kind = s.splits[i].cp_kind;
        detail::Evaluator::Bound b[3];
        ev.lower_bounds(l, micro_batches, b, wanted);
        if (lazy) {
          // Without recomputation, standing for the selective and full blocks (lazy_modes).
          uint8_t modes = 0;
          int64_t n = 1;
          for (Recompute rc : {Recompute::Selective, Recompute::Full})
            if (allowed(f.recompute, rc)) modes |= uint8_t(1u << size_t(rc)), ++n;
          const detail::Evaluator::Bound& r = b[size_t(Recompute::None)];
          out.push_back({i, mb, Recompute::None, modes, on, r.step_s, r.layer_s, r.ends_min,
                         r.ends_max, n * layouts});
          continue;
        }
        for (Recompute rc : kRecompute) {
          if (!allowed(f.recompute, rc)) continue;
          const detail::Evaluator::Bound& r = b[size_t(rc)];
          out.push_back(
              {i, mb, rc, 0, on, r.step_s, r.layer_s, r.ends_min, r.ends_max, layouts});
        }
      }
    }
  }
}

}  // namespace

namespace detail {

void schedule_choices(const Model& m, const Training& t, const Fixed& f, int32_t pp,
                      int64_t micro_batches, std::vector<ScheduleChoice>& out) {
  out.clear();
  if (pp == 1) {
    // The schedule is moot without a pipeline; 1F1B unless pinned to GPipe.
    if ((f.schedule && *f.schedule != Schedule::OneFOneB && *f.schedule != Schedule::GPipe) ||
        !allowed(f.virtual_stages, 1))
      return;
    const bool gpipe = f.schedule && *f.schedule == Schedule::GPipe;
    out.push_back({gpipe ? Schedule::GPipe : Schedule::OneFOneB, 1});
    return;
  }
  // Only what the framework runs (examples/frameworks/*.json "pipeline_schedules").
  const cost::FrameworkBehaviour& fw = cost::framework_behaviour(t);
  auto want = [&](Schedule s) { return fw.runs(s) && allowed(f.schedule, s); };
  // 1F1B first: its memory decides whether the others can fit (search_worker.cpp). It stays in
  // the space as that reference even where the framework lists only other schedules.
  if (allowed(f.schedule, Schedule::OneFOneB) && allowed(f.virtual_stages, 1))
    out.push_back({Schedule::OneFOneB, 1});
  if (want(Schedule::GPipe) && allowed(f.virtual_stages, 1)) out.push_back({Schedule::GPipe, 1});
  // Zero-bubble and DualPipe schedules (v = 1: the V schedules' two chunks are implied), under
  // their implementations' conditions (model/src/layout.cpp validate_schedule).
  if (allowed(f.virtual_stages, 1)) {
    const bool two_chunks = 2 * int64_t(pp) <= m.layers;
    const bool dual_m = micro_batches >= 2 * int64_t(pp);
    if (want(Schedule::ZbH1)) out.push_back({Schedule::ZbH1, 1});
    if (want(Schedule::ZbV) && two_chunks) out.push_back({Schedule::ZbV, 1});
    if (want(Schedule::DualPipe) && pp % 2 == 0 && micro_batches % 2 == 0 && dual_m)
      out.push_back({Schedule::DualPipe, 1});
    if (want(Schedule::DualPipeV) && two_chunks && dual_m) out.push_back({Schedule::DualPipeV, 1});
  }
  // Interleaved 1F1B: v model chunks per stage, micro-batches a multiple of pp (Megatron-LM).
  // pp * v <= layers; chunks need not divide the layers evenly.
  if (!want(Schedule::Interleaved) || micro_batches % pp != 0) return;
  for (int64_t v = 2; v <= m.layers / pp; ++v)
    if (allowed(f.virtual_stages, int32_t(v))) out.push_back({Schedule::Interleaved, int32_t(v)});
}

std::vector<ZeroChoice> zero_choices(const Cluster& c, const Training& t, const Fixed& f,
                                     const Split& sp) {
  std::vector<ZeroChoice> out;
  // HSDP (zero 3 only): the whole DP group, or NVLink-domain-sized shard groups when DP spans
  // domains.
  const int64_t node_group = c.domain_gpus() / (int64_t(sp.tp) * sp.cp);
  const int32_t pinned_group = f.shard_group.value_or(0);
  const int32_t shard_options[2] = {
      pinned_group == sp.dp ? 0 : pinned_group,
      !f.shard_group && node_group > 1 && node_group < sp.dp && sp.dp % node_group == 0
          ? int32_t(node_group)
          : -1};
  const bool pinned_hsdp = f.shard_group && *f.shard_group > 0 && *f.shard_group < sp.dp;
  const bool over_cp = cost::states_over_cp(t, sp.cp);
  for (const ZeroOffload& zo : kZeroOffload) {
    if (!allowed(f.zero, zo.zero) || !allowed(f.offload, zo.offload)) continue;
    // With one data-parallel rank ZeRO shards nothing (unless the framework shards over DP x CP,
    // sharding.hpp states_over_cp): keep stage 0 unless offloading.
    if (sp.dp == 1 && !over_cp && !f.zero && zo.zero > 0 && zo.offload == Offload::None) continue;
    if (pinned_hsdp && zo.zero < 3) continue;
    for (int32_t g : shard_options) {
      // Searched HSDP groups only without offload (pinned ones everywhere).
      if (g < 0 || (g > 0 && (zo.zero < 3 || sp.dp % g != 0))) continue;
      if (g > 0 && !pinned_hsdp && zo.offload != Offload::None) continue;
      out.push_back({zo.zero, zo.offload, g});
    }
  }
  return out;
}

}  // namespace detail

bool better(const Candidate& a, const Candidate& b) {
  if (a.cost.step_time_s != b.cost.step_time_s) return a.cost.step_time_s < b.cost.step_time_s;
  if (a.cost.memory.total != b.cost.memory.total) return a.cost.memory.total < b.cost.memory.total;
  return layout_key(a.layout) < layout_key(b.layout);
}

// Runs `fn(id)` on `threads` threads (the calling thread alone when one thread and no progress),
// calling `progress` from the calling thread meanwhile.
template <class Fn>
void run_threads(int threads, const SearchOptions& o, const std::atomic<size_t>& done, size_t total,
                 Fn fn) {
  if (threads == 1 && !o.progress) return fn(0);
  std::mutex mu;
  std::condition_variable cv;
  int finished = 0;
  std::vector<std::jthread> pool;
  pool.reserve(size_t(threads));
  for (int i = 0; i < threads; ++i)
    pool.emplace_back([&, i] {
      fn(i);
      std::lock_guard lock(mu);
      ++finished;
      cv.notify_all();
    });
  std::unique_lock lock(mu);
  while (finished < threads) {
    cv.wait_for(lock, std::chrono::milliseconds(50));
    if (o.progress && finished < threads) {
      lock.unlock();
      // Clamped: 0.1 + 0.9 x 1 rounds above 1 (the final call reports exactly 1).
      o.progress(total ? std::min(1.0, 0.1 + 0.9 * double(done.load()) / double(total)) : 1.0);
      lock.lock();
    }
  }
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
  if (const std::string why = cost::precision_refusal(c.gpu, t); !why.empty()) throw Error(why);
  check_fixed(m, t, gpus, o.allow_idle, o.fixed);

  detail::Space space{m, c, t, o.fixed, {}, {}, {}, o.exhaustive};
  for (const Split& sp : enumerate_splits(m, c, t, gpus, o.allow_idle, o.fixed))
    for (auto [ep, etp] : ep_choices(m, sp, o.fixed, c.domain_gpus())) {
      Split e = sp;
      e.ep = ep;
      e.etp = etp;
      space.splits.push_back(e);
      space.zero_choices.push_back(detail::zero_choices(c, t, o.fixed, e));
    }
  const size_t n_splits = space.splits.size();
  int threads = o.threads > 0 ? o.threads : int(std::max(1u, std::thread::hardware_concurrency()));
  threads = int(std::min<size_t>(size_t(threads), std::max<size_t>(1, n_splits)));

  // Phase 1: every block's bound, group by group in parallel (a group: the splits that differ
  // only by CP kind), stored in enumeration order.
  {
    std::vector<uint32_t> groups;
    for (uint32_t i = 0; i < n_splits; ++i) {
      const Split& a = space.splits[i];
      const Split* b = i > 0 ? &space.splits[i - 1] : nullptr;
      if (!b || a.dp != b->dp || a.tp != b->tp || a.pp != b->pp || a.cp != b->cp ||
          a.ep != b->ep || a.etp != b->etp)
        groups.push_back(i);
    }
    groups.push_back(uint32_t(n_splits));
    std::vector<std::vector<detail::Block>> per(groups.size() - 1);
    std::atomic<size_t> next{0}, none{0};
    run_threads(threads, SearchOptions{}, none, 0, [&](int) {
      const detail::Evaluator ev(m, c, t);
      std::vector<ScheduleChoice> scheds;
      for (;;) {
        const size_t g = next.fetch_add(1, std::memory_order_relaxed);
        if (g + 1 >= groups.size()) break;
        split_blocks(space, groups[g], groups[g + 1], ev, scheds, per[g]);
      }
    });
    space.blocks = std::move(per);
  }
  if (o.progress) o.progress(0.1);

  // Phase 2: the blocks, best bound first (ties: enumeration order), with the shared threshold.
  std::atomic<size_t> done{0};
  detail::SharedTop top(size_t(o.top_k));
  detail::BlockQueue queue(space.blocks);
  size_t n_blocks = 0;
  for (const auto& g : space.blocks) n_blocks += g.size();
  std::vector<detail::WorkerResult> results(static_cast<size_t>(threads));
  run_threads(threads, o, done, n_blocks, [&](int id) {
    results[size_t(id)] = detail::run_worker(space, top, queue, done, o.cancel);
  });

  SearchResult r;
  for (auto& w : results) {
    r.evaluated += w.n.evaluated;
    r.feasible += w.n.feasible;
    r.predicted += w.n.predicted;
    r.time_pruned += w.n.time_pruned;
    r.memory_pruned += w.n.memory_pruned;
    if (w.n.evaluated > 0 &&
        (r.smallest_memory_bytes == 0 || w.smallest_memory_bytes < r.smallest_memory_bytes)) {
      r.smallest_memory_bytes = w.smallest_memory_bytes;
      r.smallest = w.smallest;
    }
  }
  for (const auto& g : space.blocks)
    for (const detail::Block& b : g) r.layouts += b.layouts;
  r.top = std::move(top.items());
  std::sort(r.top.begin(), r.top.end(), better);
  if (r.top.size() > size_t(o.top_k)) r.top.resize(size_t(o.top_k));
  r.cancelled = o.cancel && o.cancel->load();
  if (o.progress) o.progress(1.0);
  r.search_time_s = std::chrono::duration<double>(Clock::now() - start).count();
  return r;
}

}  // namespace parplan::planner
