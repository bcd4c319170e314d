#pragma once
// The one place c10d is used: a communicator per process group (world, tp, dp, pp) with
// timeouts, and errors that name the rank, the operation and the group. Under NCCL, CPU tensors
// passed to a collective are staged through the GPU (results copied back). c10d's C++ API differs
// between LibTorch 1.13 and 2.x; only comm.cpp sees it.
#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include <torch/torch.h>

#include "parplan/runtime/launcher.hpp"

namespace parplan::runtime {

struct TraceRecorder;

// An in-flight operation; wait() throws parplan::Error naming the operation on failure/timeout.
class Pending {
 public:
  struct Impl;
  Pending() = default;
  explicit Pending(std::shared_ptr<Impl> impl) : impl_(std::move(impl)) {}
  void wait();
  bool valid() const { return impl_ != nullptr; }

 private:
  std::shared_ptr<Impl> impl_;
};

class Group {
 public:
  struct Impl;
  Group(std::shared_ptr<Impl> impl);
  ~Group();
  int rank() const;   // within the group
  int size() const;
  const std::string& name() const;
  const std::vector<int>& members() const;  // global ranks

  void all_reduce(torch::Tensor t);  // sum, in place
  Pending all_reduce_async(torch::Tensor t);
  void broadcast(torch::Tensor t, int root);
  // out = concatenation of every rank's `in` (out.numel() == size * in.numel(), 1-D). On Gloo a
  // ring of send/recv straight into `out` (c10d's Gloo allgather allocates a flat copy of the
  // output); `in` may be out's chunk r.
  void all_gather(torch::Tensor out, torch::Tensor in);
  // out (1-D, n) = sum over ranks of their in[rank*n, (rank+1)*n). Gloo in LibTorch 1.13 has no
  // reduce_scatter: a ring of p - 1 send/recv steps of n elements each, the bandwidth-optimal
  // algorithm ((p-1)/p of the buffer per rank), not an all-reduce. On Gloo `in` is the ring's
  // accumulator (its other chunks are overwritten with partial sums) and `out` may be its chunk
  // r: no copy of the buffer is made, only one chunk-sized receive buffer.
  void reduce_scatter(torch::Tensor out, torch::Tensor in);
  // Chrome-trace track of this group's operations (trace.hpp; default 1).
  void set_trace_tid(int tid);
  Pending send(torch::Tensor t, int dst);  // dst: rank within the group; keep t alive until wait
  void recv(torch::Tensor t, int src);
  Pending recv_async(torch::Tensor t, int src);  // t is written by the time wait() returns
  void barrier();

 private:
  std::shared_ptr<Impl> impl_;
};

struct CommOptions {
  int rank = 0, world_size = 1;
  int local_rank = 0;  // NCCL: this rank uses cuda:local_rank
  std::string master_addr = "127.0.0.1";
  int master_port = 0;
  bool host_store = false;  // this rank hosts c10d's TCPStore (rank 0 of a cluster launch)
  bool agent_store = false;  // torchrun's agent hosts it (TORCHELASTIC_USE_AGENT_STORE=True)
  std::string store_file;   // local launches: a c10d FileStore in the launcher's private dir
  std::string secret;       // prefixes every store key (PARPLAN_RUN_SECRET); empty: none
  std::chrono::milliseconds timeout{60000};
  std::string backend = "auto";
};

// The options for the rank `env` describes (torchrun / mpiexec / srun / local launcher).
CommOptions comm_options(const RankEnv& env, double timeout_s, const std::string& backend);

// The store and the world group; subgroups are created from it.
class Communicator {
 public:
  explicit Communicator(const CommOptions& o);
  ~Communicator();
  Group& world();
  // A group of the given global ranks (this rank must be one of them); all members call it with
  // the same name and ranks, in the same order as the other groups.
  std::unique_ptr<Group> new_group(const std::string& name, const std::vector<int>& ranks);
  const std::string& backend() const;  // "gloo" or "nccl"
  void set_trace(TraceRecorder* t);
  struct Impl;

 private:
  std::shared_ptr<Impl> impl_;
};

// Whether NCCL can be used (CUDA LibTorch with c10d NCCL and a GPU for this local rank); `why`
// when not. With NCCL the Communicator selects cuda:local_rank as this process's device.
bool nccl_usable(std::string* why, int local_rank = 0);

}  // namespace parplan::runtime
