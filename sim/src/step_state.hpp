#pragma once
// The step simulation's state (internal to sim/): one actor per simulated GPU runs its pipeline
// stage's schedule; communication streams are actors too. The member functions live in
// step_sim.cpp (setup, one rank's schedule, results), step_layer.cpp (per-layer work: TP and
// ZeRO-3 collectives, DP gradient buckets), step_cp.cpp (ring / Ulysses / USP context parallelism), step_moe.cpp (expert-parallel all-to-alls) and
// step_pipe.cpp (pipeline transfers).
#include <cstdint>
#include <deque>
#include <initializer_list>
#include <memory>
#include <simgrid/s4u/Actor.hpp>
#include <simgrid/s4u/Barrier.hpp>
#include <simgrid/s4u/Engine.hpp>
#include <simgrid/s4u/Semaphore.hpp>
#include <string>
#include <vector>

#include "comm.hpp"
#include "parplan/cost/context_parallel.hpp"
#include "parplan/sim/step_sim.hpp"
#include "parplan/sim/trace.hpp"
#include "schedule.hpp"

namespace parplan::sim::detail {

namespace sg4 = simgrid::s4u;
using cost::Algorithm;
using cost::Collective;

inline double now() {
  return sg4::Engine::get_clock();
}

// One queued collective for a communication stream (an actor standing for a CUDA stream that
// runs NCCL kernels in order, concurrently with the compute stream).
struct Job {
  Collective op = Collective::AllReduce;
  double bytes = 0;
  const CommGroup* group = nullptr;
  int me = 0;
  Choice algo;
  bool stop = false;
  int count = 1;  // collectives of `bytes` each, run as one flow set (see StepSim::tp_coll)
};

struct Stream {
  std::deque<Job> queue;
  sg4::SemaphorePtr ready = sg4::Semaphore::create(0);
  sg4::SemaphorePtr done = sg4::Semaphore::create(0);
  double busy_s = 0;  // seconds spent running jobs so far
  void push(const Job& j) {
    queue.push_back(j);
    ready->release();
  }
};

struct Rank {
  int64_t rank = 0;
  int tp = 0, cp = 0, dp = 0, pp = 0;
  bool full = true;  // runs the whole schedule (else: DP collectives only, driven by its leader)
  bool ghost = false;  // not full, but its DP streams run (fed by its replica-0 leader)
  sg4::Host* host = nullptr;
  std::shared_ptr<CommGroup> tpg, cpg, dpg, epg;  // cpg: the ring-attention group
  std::shared_ptr<CommGroup> ulg;                  // the Ulysses group (ulysses, usp)
  int tp_me = 0, cp_me = 0, dp_me = 0, ep_me = 0, ul_me = 0;
  Stream dp_stream, cp_stream, z3_stream, ep_stream;
  int ep_jobs = 0;       // all-to-alls queued on ep_stream, not yet waited for
  double ep_busy0 = 0;   // ep_stream.busy_s when they were queued
  std::vector<Rank*> ghosts;  // replicas whose DP traffic follows this rank's
  int z3_issued = 0, z3_waited = 0;
  double pending = 0;       // seconds of local work not yet slept (see StepSim::flush)
  double pending_grad = 0;  // gradient bytes produced but not yet in a bucket
  int buckets = 0;          // buckets queued on dp_stream
  bool gather_waited = false;
  RankResult res;
  double pipe_end = 0, pipe_busy = 0;
};

class StepSim {
 public:
  StepSim(const Plan& plan, const cost::StepWork& w, const SimOptions& opt, Platform& p);
  void setup();
  SimResult results();

 private:
  // ---- one rank's step (step_sim.cpp) ----
  void run_op(Rank& r, const detail::PipeOp& op, bool last_backward_of_chunk);
  void run_rank(Rank& r);
  // ---- per-layer work and communication streams (step_layer.cpp) ----
  void serve(Rank&, Stream& s);
  void grads_ready(Rank& r, double bytes, bool flush);
  void push_dp(Rank& r, Collective op, double bytes, const Choice& algo);
  void push_buckets(Rank& r);
  void wait_buckets(Rank& r, const char* what);
  void tp_coll(Rank& r, Collective op, double bytes, int count);
  void tp_block(Rank& r, int n);
  Collective tp_op_at(int k) const;
  void z3_gather(Rank& r, bool first_in_op, bool last_in_op);
  // ---- context parallelism: ring, Ulysses, USP (step_cp.cpp) ----
  void cp_init();
  void cp_groups(Rank& first);
  void ulysses(Rank& r, std::initializer_list<double> buffers);
  double cp_overlap(Rank& r, double block, double attention_s, const std::string& name);
  double cp_forward_exchange(Rank& r, const std::string& name);
  void cp_bytes(SimResult& out) const;
  void layer_forward(Rank& r, const std::string& name, bool first, bool last);
  void layer_backward(Rank& r, const std::string& name, bool first, bool last);
  // ---- MoE expert-parallel all-to-alls (step_moe.cpp) ----
  void ep_init();
  void ep_groups();
  int ep_layers(const Rank& r, int chunk, int first, int count) const;
  std::vector<double> ep_bytes(bool forward) const;
  void ep_start(Rank& r, bool forward, int layers);
  void ep_finish(Rank& r, bool forward, int layers, double compute_s);
  // ---- pipeline transfers (step_pipe.cpp) ----
  int64_t peer(const Rank& r, int stage) const;
  void send(Rank& r, int64_t dst, char dir, int chunk);
  void recv(Rank& r, int64_t src, char dir, int chunk);
  void recv_input(Rank& r, const detail::PipeOp& op);
  void send_output(Rank& r, const detail::PipeOp& op);

  // ---- time accounting ----
  void record(Rank& r, const char* cat, std::string name, double t0) {
    if (trace_.enabled && r.rank < opt_.trace_max_ranks && now() > t0)
      trace_.event({std::move(name), cat, r.rank, t0, now()});
  }
  // Work that interacts with nobody (compute, TP collectives on exclusive links) accumulates in
  // r.pending and becomes one sleep before the rank's next interaction: one event, same times.
  void exec(Rank& r, double seconds, const std::string& name) {
    if (!(seconds > 0)) return;
    if (trace_.enabled && r.rank < opt_.trace_max_ranks)
      trace_.event({name, "compute", r.rank, now() + r.pending, now() + r.pending + seconds});
    r.pending += seconds;
    r.res.compute_s += seconds;
  }
  void flush(Rank& r) {
    if (!(r.pending > 0)) return;
    sg4::this_actor::sleep_for(r.pending);
    ++execs_;
    r.pending = 0;
  }

  const Plan& plan_;
  const cost::StepWork& w_;
  // The host's excess over the device per layer and pass (cost::layer_host_excess), charged on
  // the compute stream as the analytical stage time charges it.
  cost::HostExcess hx_;
  const SimOptions& opt_;
  Platform& p_;
  detail::Comms comms_;
  Trace trace_;
  std::vector<std::unique_ptr<Rank>> ranks_;
  sg4::BarrierPtr barrier_;
  uint64_t execs_ = 0;
  int P_ = 1, v_ = 1, m_ = 1;
  // Transformer layers of model chunk k of stage r (entry k * pp + r, cost::chunk_layer_split: the
  // plan's first/last_stage_layers, as the analytical model and the export split them) and the
  // global index of its first layer (Megatron's order), which says which of them are MoE layers.
  std::vector<int> chunk_layers_;
  std::vector<int64_t> chunk_first_;
  int layers(const Rank& r, int chunk) const {
    return chunk_layers_[static_cast<size_t>(chunk * P_ + r.pp)];
  }
  Granularity gran_ = Granularity::Chunk;
  bool aggregate_ = false, tp_exclusive_ = false, lanes_ = false;
  double layer_grad_bytes_ = 0, bucket_cap_ = 0, param_bytes_ = 0, z3_bytes_ = 0;
  Choice tp_ar_, tp_ag_, tp_rs_;
  Choice dp_algo_, ag_algo_, z3_algo_;
  Choice cp_algo_;
  Collective dp_op_ = Collective::AllReduce;
  bool ep_on_ = false, ep_overlap_ = false;
  // DP and EP groups symmetric (comm.hpp CommGroup::reps): replica 0 alone runs the schedule, and
  // only the DP group's first node has DP streams; the framework's overlap switches.
  bool sym_dp_ = false, sym_ep_ = false;
  bool dp_over_cp_ = false;  // the DP group holds the CP ranks too (cost::states_over_cp)
  int64_t dp_members_ = 1, dp_stride_ = 1;  // its size and the rank stride of its members
  // Every EP group inside one NVLink zone (NVL72: EP 64 in a rack's segment) and no DP traffic
  // during the pipeline: replica 0 alone runs, its EP members as the groups' representatives
  // (Comms::zone_symmetric).
  bool zone_ep_ = false;
  // The TP-lane representative (Comms::lane_symmetric): TP lane 0 alone runs the schedule, its TP
  // collectives as their groups' representatives, when the TP links are not exclusive (CP or DP
  // flows share the NVLink ports) but every lane's flows leave through its own ports.
  bool lane_rep_ = false;
  bool reduce_overlap_ = true, gather_overlap_ = true;
  cost::CpWork cp_;
  std::vector<std::shared_ptr<CommGroup>> cp_all_;
  double ep_dispatch_bytes_ = 0, ep_combine_bytes_ = 0;
};

}  // namespace parplan::sim::detail
