// c10d behind a small interface (LibTorch 1.13 API; the 2.x differences stay in this file).
#include "comm.hpp"

#include <cstdlib>
#include <functional>
#include <sstream>

#include <torch/csrc/distributed/c10d/FileStore.hpp>
#include <torch/csrc/distributed/c10d/PrefixStore.hpp>
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>
#if defined(PARPLAN_TORCH_CUDA) && defined(USE_C10D_NCCL)
#include <torch/csrc/distributed/c10d/ProcessGroupNCCL.hpp>
#define PARPLAN_C10D_NCCL 1
#endif
#include <torch/version.h>

#include "device.hpp"
#include "parplan/model/error.hpp"
#include "parplan/runtime/nccl.hpp"
#include "trace.hpp"

namespace parplan::runtime {

// LibTorch 2.x splits ProcessGroup into a front end and per-device Backends (Gloo, NCCL); the
// collectives used here have the same signatures on both.
#if TORCH_VERSION_MAJOR >= 2
using PgBase = c10d::Backend;
#else
using PgBase = c10d::ProcessGroup;
#endif

struct Group::Impl {
  c10::intrusive_ptr<PgBase> pg;
  bool cuda = false;  // NCCL: collectives need CUDA tensors; CPU ones are staged through the GPU
  std::string name;
  std::vector<int> members;
  int rank = 0, global_rank = 0;
  std::chrono::milliseconds timeout{60000};
  TraceRecorder* trace = nullptr;
  int trace_tid = 1;

  std::string where(const std::string& op) const {
    std::ostringstream s;
    s << "rank " << global_rank << ": " << op << " on group '" << name << "' (ranks";
    for (int m : members) s << " " << m;
    s << ")";
    return s.str();
  }
};

struct Pending::Impl {
  c10::intrusive_ptr<c10d::Work> work;
  std::string what;
  std::chrono::milliseconds timeout;
  TraceRecorder* trace = nullptr;
  int tid = 1;
  std::string op;
  Clock::time_point begin = Clock::now();
  std::vector<torch::Tensor> keep;  // buffers the operation reads or writes
  std::function<void()> after;      // after a successful wait (copy a staged result back)
};

void Pending::wait() {
  if (!impl_) return;
  auto impl = std::move(impl_);
  try {
    if (!impl->work->wait(impl->timeout))  // a peer is gone: the environment (exit 3)
      throw EnvironmentError(impl->what + " did not complete within " +
                  std::to_string(impl->timeout.count() / 1000.0) + " s (a peer died or never joined)");
  } catch (const Error&) {
    throw;
  } catch (const std::exception& e) {
    std::string msg = e.what();
    auto nl = msg.find("\nException raised from");
    if (nl != std::string::npos) msg.resize(nl);
    const bool timed_out =
        msg.find("imeout") != std::string::npos || msg.find("imed out") != std::string::npos;
    if (timed_out)  // docs/errors.md: a rank lost or never joined is an environment failure
      throw EnvironmentError(impl->what + " failed: " + msg + " (timed out: a peer died or never joined)");
    throw Error(impl->what + " failed: " + msg);
  }
  if (impl->after) impl->after();
  if (impl->trace) impl->trace->add(impl->op, "comm", impl->begin, Clock::now(), impl->tid);
}

Group::Group(std::shared_ptr<Impl> impl) : impl_(std::move(impl)) {}
Group::~Group() = default;
int Group::rank() const { return impl_->rank; }
int Group::size() const { return int(impl_->members.size()); }
const std::string& Group::name() const { return impl_->name; }
const std::vector<int>& Group::members() const { return impl_->members; }

void Group::set_trace_tid(int tid) { impl_->trace_tid = tid; }

namespace {

// The send/recv steps inside a ring collective are not traced one by one (the ring is one event).
thread_local bool t_untraced = false;
struct Untraced {
  bool saved = t_untraced;
  Untraced() { t_untraced = true; }
  ~Untraced() { t_untraced = saved; }
};

Pending make_pending(const Group::Impl& g, c10::intrusive_ptr<c10d::Work> w, const std::string& op,
                     std::vector<torch::Tensor> keep, std::function<void()> after = {}) {
  auto p = std::make_shared<Pending::Impl>();
  p->work = std::move(w);
  p->what = g.where(op);
  p->timeout = g.timeout;
  p->trace = t_untraced ? nullptr : g.trace;
  p->tid = g.trace_tid;
  p->op = op + " " + g.name;
  p->keep = std::move(keep);
  p->after = std::move(after);
  return Pending(p);
}

// NCCL takes CUDA tensors only: a CPU tensor (a loss, a flag, memory statistics) goes through a
// device copy, and results are copied back after the wait.
torch::Tensor staged(const Group::Impl& g, const torch::Tensor& t) {
  return g.cuda && !t.is_cuda() ? t.to(device()) : t;
}
std::function<void()> copy_back(const torch::Tensor& host, const torch::Tensor& dev) {
  if (host.is_same(dev)) return {};
  return [host, dev]() mutable { host.copy_(dev); };
}

// c10d throws c10::Error when a peer is gone before the op is even queued.
template <class F>
auto guarded(const Group::Impl& g, const std::string& op, F&& f) {
  try {
    return f();
  } catch (const Error&) {
    throw;
  } catch (const std::exception& e) {
    std::string msg = e.what();
    auto nl = msg.find("\nException raised from");
    if (nl != std::string::npos) msg.resize(nl);
    throw EnvironmentError(g.where(op) + " failed: " + msg + " (a peer is gone)");
  }
}

}  // namespace

Pending Group::all_reduce_async(torch::Tensor t) {
  if (size() == 1) return {};
  return guarded(*impl_, "all_reduce", [&] {
    auto d = staged(*impl_, t);
    std::vector<torch::Tensor> v{d};
    return make_pending(*impl_, impl_->pg->allreduce(v), "all_reduce", {d, t}, copy_back(t, d));
  });
}

void Group::all_reduce(torch::Tensor t) { all_reduce_async(std::move(t)).wait(); }

void Group::broadcast(torch::Tensor t, int root) {
  if (size() == 1) return;
  guarded(*impl_, "broadcast", [&] {
    auto d = staged(*impl_, t);
    std::vector<torch::Tensor> v{d};
    c10d::BroadcastOptions o;
    o.rootRank = root;
    make_pending(*impl_, impl_->pg->broadcast(v, o), "broadcast", {d, t}, copy_back(t, d)).wait();
    return 0;
  });
}

void Group::all_gather(torch::Tensor out, torch::Tensor in) {
  if (size() == 1) {
    if (out.data_ptr() != in.data_ptr()) out.copy_(in.reshape({-1}));
    return;
  }
  if (!impl_->cuda) {
    // Ring (Gloo): at step k rank r passes chunk r-k on to r+1 and receives chunk r-k-1 from r-1
    // into its place in `out`.
    int p = size(), r = rank();
    auto n = in.numel();
    auto chunk = [&](int c) { return out.narrow(0, int64_t((c % p + p) % p) * n, n); };
    if (chunk(r).data_ptr() != in.data_ptr()) chunk(r).copy_(in.reshape({-1}));
    TraceScope ts(impl_->trace, "all_gather " + impl_->name, "comm", impl_->trace_tid);
    Untraced quiet;
    for (int k = 0; k < p - 1; ++k) {
      auto s = send(chunk(r - k), (r + 1) % p);
      recv(chunk(r - k - 1), (r - 1 + p) % p);
      s.wait();
    }
    return;
  }
  guarded(*impl_, "all_gather", [&] {
    auto dout = staged(*impl_, out);
    std::vector<torch::Tensor> input{staged(*impl_, in.reshape({-1}).contiguous())};
    std::vector<std::vector<torch::Tensor>> output(1);
    auto n = input[0].numel();
    for (int r = 0; r < size(); ++r) output[0].push_back(dout.narrow(0, r * n, n));
    make_pending(*impl_, impl_->pg->allgather(output, input), "all_gather", {input[0], dout},
                 copy_back(out, dout))
        .wait();
    return 0;
  });
}

void Group::reduce_scatter(torch::Tensor out, torch::Tensor in) {
  int p = size(), r = rank();
  auto n = out.numel();
  if (p == 1) {
    if (out.data_ptr() != in.data_ptr()) out.copy_(in.narrow(0, 0, n));
    return;
  }
  if (impl_->cuda) {  // NCCL has reduce_scatter
    guarded(*impl_, "reduce_scatter", [&] {
      auto din = staged(*impl_, in), dout = staged(*impl_, out);
      std::vector<torch::Tensor> o{dout};
      std::vector<std::vector<torch::Tensor>> i(1);
      for (int k = 0; k < p; ++k) i[0].push_back(din.narrow(0, int64_t(k) * n, n));
      make_pending(*impl_, impl_->pg->reduce_scatter(o, i), "reduce_scatter", {din, dout},
                   copy_back(out, dout))
          .wait();
      return 0;
    });
    return;
  }
  TraceScope ts(impl_->trace, "reduce_scatter " + impl_->name, "comm", impl_->trace_tid);
  // Ring: at step k rank r sends its running sum of chunk (r-k-1) to r+1 and adds the chunk
  // (r-k-2) it receives from r-1; after p-1 steps it holds the full sum of chunk r. `in` is the
  // accumulator (no copy of the buffer); one chunk-sized receive buffer.
  auto buf = torch::empty({n}, in.options());
  auto chunk = [&](int c) { return in.narrow(0, int64_t((c % p + p) % p) * n, n); };
  {
    Untraced quiet;
    for (int k = 0; k < p - 1; ++k) {
      auto s = send(chunk(r - k - 1), (r + 1) % p);
      recv(buf, (r - 1 + p) % p);
      chunk(r - k - 2).add_(buf);
      s.wait();
    }
  }
  if (out.data_ptr() != chunk(r).data_ptr()) out.copy_(chunk(r));
}

Pending Group::send(torch::Tensor t, int dst) {
  return guarded(*impl_, "send to group rank " + std::to_string(dst), [&] {
    std::vector<torch::Tensor> v{staged(*impl_, t)};
    return make_pending(*impl_, impl_->pg->send(v, dst, 0),
                        "send to group rank " + std::to_string(dst), v);
  });
}

void Group::recv(torch::Tensor t, int src) { recv_async(std::move(t), src).wait(); }

Pending Group::recv_async(torch::Tensor t, int src) {
  return guarded(*impl_, "recv from group rank " + std::to_string(src), [&] {
    auto d = staged(*impl_, t);
    std::vector<torch::Tensor> v{d};
    return make_pending(*impl_, impl_->pg->recv(v, src, 0),
                        "recv from group rank " + std::to_string(src), {d, t}, copy_back(t, d));
  });
}

void Group::barrier() {
  if (size() == 1) return;
  all_reduce(torch::zeros({1}));
}

namespace {

std::string short_message(const std::exception& e) {
  std::string msg = e.what();
  auto nl = msg.find("\nException raised from");
  if (nl != std::string::npos) msg.resize(nl);
  return brief(msg, 300);
}

// The rendezvous store. Local launches: a FileStore in the launcher's private 0700 directory (no
// socket at all). Cluster launches (torchrun / srun / mpiexec): c10d's TCPStore at
// MASTER_ADDR:MASTER_PORT, as torch.distributed's env:// rendezvous makes it for Megatron and
// torchtitan: under torchrun >= 2.0 the agent hosts it (TORCHELASTIC_USE_AGENT_STORE=True) and
// every rank is a client, otherwise rank 0 hosts it. PARPLAN_RUN_SECRET, when set, prefixes every
// key (runs sharing a store do not collide); the store itself has no authentication, as in
// every framework: keep MASTER_PORT behind the cluster's firewall (docs/runtime.md).
c10::intrusive_ptr<c10d::Store> make_store(const CommOptions& o) {
  c10::intrusive_ptr<c10d::Store> store;
  const std::string where = "rank " + std::to_string(o.rank) + ": ";
  if (!o.store_file.empty()) {
    try {
      store = c10::make_intrusive<c10d::FileStore>(o.store_file, o.world_size);
      store->setTimeout(o.timeout);
    } catch (const std::exception& e) {
      throw EnvironmentError(where + "cannot open the local rendezvous file '" + o.store_file +
                             "': " + short_message(e));
    }
  } else {
    c10d::TCPStoreOptions t;
    t.port = static_cast<std::uint16_t>(o.master_port);
    t.isServer = o.host_store;
    t.numWorkers = static_cast<std::size_t>(o.world_size);
    t.waitWorkers = !o.agent_store;  // with the agent's store the agent counted the workers
    t.timeout = o.timeout;
    const std::string at = o.master_addr + ":" + std::to_string(o.master_port);
    try {
      store = c10::make_intrusive<c10d::TCPStore>(o.master_addr, t);
    } catch (const std::exception& e) {
      const std::string msg = short_message(e);
      if (o.host_store && msg.find("ddress already in use") != std::string::npos)
        throw EnvironmentError(where + "cannot host the rendezvous store on " + at +
                               ": the port is already in use; choose another MASTER_PORT");
      throw EnvironmentError(where + (o.host_store ? "hosting" : "reaching") + " the rendezvous store (c10d TCPStore) at " +
                             at + " failed within --timeout-s: " + msg +
                             "; check MASTER_ADDR / MASTER_PORT and that every rank was started");
    }
  }
  if (o.secret.empty()) return store;
  return c10::make_intrusive<c10d::PrefixStore>("parplan-" + o.secret, store);
}

}  // namespace

struct Communicator::Impl {
  CommOptions opts;
  c10::intrusive_ptr<c10d::Store> store;
  std::unique_ptr<Group> world;
  std::string backend = "gloo";
  TraceRecorder* trace = nullptr;
  std::vector<Group::Impl*> groups;

  std::unique_ptr<Group> make(const std::string& name, const std::vector<int>& ranks) {
    auto g = std::make_shared<Group::Impl>();
    g->name = name;
    g->members = ranks;
    g->global_rank = opts.rank;
    g->timeout = opts.timeout;
    auto it = std::find(ranks.begin(), ranks.end(), opts.rank);
    if (it == ranks.end()) throw Error("internal: rank not in group " + name);
    g->rank = int(it - ranks.begin());
    std::string key = name;
    for (int r : ranks) key.append(1, '.').append(std::to_string(r));
    auto prefixed = c10::make_intrusive<c10d::PrefixStore>(key, store);
    try {
#ifdef PARPLAN_C10D_NCCL
      if (backend == "nccl") {
        auto o = c10d::ProcessGroupNCCL::Options::create();
        o->timeout = opts.timeout;
        g->pg = c10::make_intrusive<c10d::ProcessGroupNCCL>(prefixed, g->rank, int(ranks.size()), o);
        g->cuda = true;
      }
#endif
      if (!g->pg) {
        auto o = c10d::ProcessGroupGloo::Options::create(opts.timeout);
        o->devices.push_back(c10d::ProcessGroupGloo::createDeviceForHostname("127.0.0.1"));
        if (opts.master_addr != "127.0.0.1" && opts.master_addr != "localhost") {
          o->devices.clear();
          o->devices.push_back(c10d::ProcessGroupGloo::createDefaultDevice());
        }
        o->threads = 2;
        g->pg = c10::make_intrusive<c10d::ProcessGroupGloo>(prefixed, g->rank, int(ranks.size()), o);
      }
    } catch (const std::exception& e) {
      std::string msg = e.what();
      auto nl = msg.find("\nException raised from");
      if (nl != std::string::npos) msg.resize(nl);
      // The rendezvous: a rank that died or never joined is the environment (exit 3).
      throw EnvironmentError(g->where("creating the process group") + " failed: " + msg +
                             " (a rank died or never joined within --timeout-s)");
    }
    g->trace = trace;
    groups.push_back(g.get());
    return std::make_unique<Group>(g);
  }
};

Communicator::Communicator(const CommOptions& o) : impl_(std::make_shared<Impl>()) {
  impl_->opts = o;
  std::string why;
  if (o.backend == "nccl" && !nccl_usable(&why, o.local_rank))
    throw Error("--backend nccl: " + why);
  impl_->backend =
      (o.backend == "nccl" || (o.backend == "auto" && nccl_usable(nullptr, o.local_rank))) ? "nccl" : "gloo";
  // NCCL: this rank computes on cuda:LOCAL_RANK; Gloo: on the CPU.
  select_device(impl_->backend == "nccl", o.local_rank);
  impl_->store = make_store(o);
  std::vector<int> all(size_t(o.world_size));
  for (int r = 0; r < o.world_size; ++r) all[size_t(r)] = r;
  impl_->world = impl_->make("world", all);
}

Communicator::~Communicator() = default;
Group& Communicator::world() { return *impl_->world; }
std::unique_ptr<Group> Communicator::new_group(const std::string& name, const std::vector<int>& ranks) {
  return impl_->make(name, ranks);
}
const std::string& Communicator::backend() const { return impl_->backend; }
void Communicator::set_trace(TraceRecorder* t) {
  impl_->trace = t;
  for (auto* g : impl_->groups) g->trace = t;
}

bool nccl_usable(std::string* why, int local_rank) {
  std::string probe;
#ifdef PARPLAN_HAVE_NCCL_UNIT
  auto p = probe_nccl();
  probe = " [NCCL " + std::to_string(p.nccl_version) + ", " + std::to_string(p.cuda_devices) +
          " GPU(s)" + (p.problem.empty() ? "" : ": " + p.problem) + "]";
#endif
  std::string reason;
  if (cuda_usable(local_rank, &reason)) {
    if (why) why->clear();
    return true;
  }
  if (why) *why = reason + probe;
  return false;
}

CommOptions comm_options(const RankEnv& env, double timeout_s, const std::string& backend) {
  CommOptions co;
  co.rank = env.rank;
  co.world_size = env.world_size;
  co.master_addr = env.master_addr;
  co.master_port = env.master_port;
  co.local_rank = env.local_rank;
  const char* file = std::getenv("PARPLAN_STORE_FILE");
  const char* secret = std::getenv("PARPLAN_RUN_SECRET");
  co.store_file = file ? file : "";
  co.secret = secret ? secret : "";
  // torchrun >= 2.0 hosts the store in its agent and tells the workers so (torch.distributed's
  // env:// rendezvous reads the same variable); else rank 0 hosts it.
  const char* agent = std::getenv("TORCHELASTIC_USE_AGENT_STORE");
  co.agent_store = agent && std::string(agent) == "True";
  co.host_store = env.rank == 0 && co.store_file.empty() && !co.agent_store;
  co.timeout = std::chrono::milliseconds(int64_t(timeout_s * 1000));
  co.backend = backend;
  return co;
}

}  // namespace parplan::runtime
