// `parplan calibrate`: what this machine's ranks reach, measured with the backend they train on,
// written as a cluster file for the cost model.
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <iostream>
#include <thread>

#include "blas_info.hpp"
#include "calibrate_host.hpp"
#include "comm.hpp"
#include "device.hpp"
#include "parplan/model/cluster.hpp"
#include "parplan/model/io.hpp"
#include "parplan/model/plan.hpp"
#include "parplan/runtime/launcher.hpp"
#include "parplan/runtime/run.hpp"
#include "trace.hpp"

namespace parplan::runtime {
namespace fs = std::filesystem;

namespace {

// Fastest seconds of f() over repetitions filling about `budget_s`: on a shared machine the
// minimum is what the ranks reach when they have the cores (the median mixes in others' load);
// `parplan compare --stat min` compares steps the same way.
// With `agree`, f() is a collective over that group: every member must run it the same number of
// times, so the count comes from the first (warm-up) run and is agreed on (the group's mean).
template <class F>
double time_it(F&& f, double budget_s = 0.15, Group* agree = nullptr) {
  auto w0 = Clock::now();
  f();
  device_synchronize();
  double first = std::max(seconds_since(w0), 1e-7);
  double n = std::clamp(std::floor(budget_s / first), 3.0, 200.0);
  if (agree) {
    auto c = torch::tensor({n}, torch::kFloat64);
    agree->all_reduce(c);
    n = std::floor(c.item<double>() / agree->size());
  }
  double best = 1e300;
  for (int i = 0; i < int(n); ++i) {
    auto t0 = Clock::now();
    f();
    device_synchronize();  // CUDA kernels are asynchronous
    best = std::min(best, seconds_since(t0));
  }
  return best;
}

}  // namespace

nlohmann::json calibrate_rank(const nlohmann::json& cfg) {
  auto env = detect_rank_env(current_environment()).value_or(RankEnv{});
  const int threads = std::max(1, int(std::thread::hardware_concurrency()) / std::max(1, env.local_world_size));
  at::set_num_threads(threads);
  set_blas_threads(threads);
  Communicator comm(comm_options(env, cfg.value("timeout_s", 60.0), cfg.value("backend", "auto")));
  auto& world = comm.world();
  const int N = env.world_size;
  auto mean_over_ranks = [&](double v) {
    auto t = torch::tensor({v}, torch::kFloat64);
    world.all_reduce(t);
    return t.item<double>() / N;
  };

  // Matmul FLOP/s at transformer shapes (tokens x hidden x hidden, and the 4x MLP shapes), all
  // ranks at once (they share the machine as they do in training).
  struct Shape {
    double m, n, k;
  };
  std::vector<Shape> shapes;
  const std::string plan_path = cfg.value("plan", std::string());
  if (!plan_path.empty()) {
    // The GEMMs the plan's model runs (--plan): tokens per micro-batch (and half of them, as
    // CP = 2 keeps), each linear whole and split in two (TP = 2), and the head.
    const Plan plan = load_plan(plan_path);
    const double T = double(plan.layout.micro_batch) * double(plan.training.seq_len);
    const double h = double(plan.model.hidden), f = double(plan.model.ffn_hidden);
    for (double t : {T, T / 2})
      for (double s : {1.0, 2.0}) {
        shapes.push_back({t, h / s, h});
        shapes.push_back({t, h, h / s});
        shapes.push_back({t, f / s, h});
        shapes.push_back({t, h, f / s});
      }
    shapes.push_back({T, double(plan.model.vocab), h});
  } else {
    for (double m : {128.0, 512.0, 2048.0})
      for (double h : {32.0, 64.0, 128.0, 256.0, 512.0}) {
        shapes.push_back({m, h, h});
        shapes.push_back({m, 4 * h, h});
        shapes.push_back({m, h, 4 * h});
      }
  }
  std::vector<double> flops;
  for (auto& sh : shapes) {
    auto a = torch::randn({int64_t(sh.m), int64_t(sh.k)}, device_options()),
         b = torch::randn({int64_t(sh.k), int64_t(sh.n)}, device_options());
    auto c = torch::empty({int64_t(sh.m), int64_t(sh.n)}, device_options());
    world.barrier();
    double t = time_it([&] { torch::mm_out(c, a, b); }, 0.05);
    flops.push_back(mean_over_ranks(2.0 * sh.m * sh.n * sh.k / t));
  }
  double peak = *std::max_element(flops.begin(), flops.end());
  // Fit eff(m, n, k) = max * g(m) g(n) g(k), g(x) = x / (x + h) (cost/compute.hpp): a search
  // over h with the best max for each, minimising the squared log error (symmetric in over- and
  // under-prediction, as `parplan fit`; a relative error (max g - y) / y weighs the slowest shapes
  // most and dragged max down to them). max <= 1 (the peak is the best shape).
  double best_h = 0, best_max = 1, best_err = 1e300;
  for (double h = 0; h <= 2048; h += 0.5) {
    auto g = [&](double x) { return x / (x + h); };
    std::vector<double> lg, ly;
    double mean = 0;
    for (size_t i = 0; i < shapes.size(); ++i) {
      lg.push_back(std::log(g(shapes[i].m) * g(shapes[i].n) * g(shapes[i].k)));
      ly.push_back(std::log(flops[i] / peak));
      mean += (ly.back() - lg.back()) / double(shapes.size());
    }
    double lmx = std::min(mean, 0.0), err = 0;
    for (size_t i = 0; i < shapes.size(); ++i) err += std::pow(lmx + lg[i] - ly[i], 2);
    if (err < best_err) best_err = err, best_h = h, best_max = std::exp(lmx);
  }

  // Streaming bandwidth (c = a + b, 3 x 32 MB) and the fraction of it that the memory-bound ops
  // of a transformer layer (layernorm, GELU, softmax, residual add) reach.
  auto a = torch::randn({8 << 20}, device_options()), b = torch::randn({8 << 20}, device_options()),
       c = torch::empty({8 << 20}, device_options());
  world.barrier();
  double bw = mean_over_ranks(3.0 * 4 * double(a.numel()) / time_it([&] { torch::add_out(c, a, b); }));
  auto x = torch::randn({4096, 256}, device_options());
  auto w = torch::ones({256}, device_options()), bias = torch::zeros({256}, device_options());
  double bytes = 2.0 * 4 * double(x.numel());
  double t_ops = time_it([&] {
    torch::layer_norm(x, {256}, w, bias);
    torch::gelu(x);
    x.softmax(-1);
    torch::add(x, x);
  });
  double memory_bound = std::min(1.0, mean_over_ranks(4 * bytes / t_ops) / bw);

  // All-reduce over k = 2..N ranks: fit t = 2(k-1) lat + 2(k-1)/k M / B (ring, Thakur et al.).
  nlohmann::json coll = nlohmann::json::array();
  double link_bw = 0, link_lat = 0;
  for (int k = 2; k <= N; ++k) {
    std::vector<int> ranks(static_cast<size_t>(k));
    for (int r = 0; r < k; ++r) ranks[size_t(r)] = r;
    if (env.rank >= k) {
      world.barrier();
      continue;
    }
    auto g = comm.new_group("calib" + std::to_string(k), ranks);
    std::vector<double> xs, ts;
    nlohmann::json pts = nlohmann::json::array();
    for (double bytes_m : {4e3, 64e3, 256e3, 1e6, 4e6, 16e6}) {
      auto t = torch::ones({int64_t(bytes_m / 4)}, device_options());
      double s = time_it([&] { g->all_reduce(t); }, 0.3, g.get());
      auto tt = torch::tensor({s}, torch::kFloat64);
      g->all_reduce(tt);
      s = tt.item<double>() / k;
      xs.push_back(2.0 * (k - 1) / k * bytes_m);
      ts.push_back(s);
      pts.push_back({{"bytes", bytes_m}, {"seconds", s}});
    }
    // Bandwidth from the two largest messages, latency from the smallest (a least-squares line
    // through all points lets the large messages swallow the latency).
    size_t n = xs.size();
    double B = (xs[n - 1] - xs[n - 2]) / std::max(ts[n - 1] - ts[n - 2], 1e-12);
    double lat = std::max(ts[0] - xs[0] / B, 0.0) / (2.0 * (k - 1));
    coll.push_back({{"ranks", k}, {"op", "all_reduce"}, {"bandwidth_GBps", B / 1e9},
                    {"latency_us", lat * 1e6}, {"points", pts}});
    link_bw = B, link_lat = lat;
    world.barrier();
  }
  // Host overheads (calibrate_host.hpp): per eager operator on every rank at once, and per
  // collective call and point-to-point exchange over the first two ranks, as training issues them.
  nlohmann::json op_detail, call_detail;
  const double op_overhead = mean_over_ranks(measure_op_overhead(comm, env.rank, op_detail));
  IntraNode::CallOverhead calls;
  if (N >= 2) {
    if (env.rank < 2) {
      auto g2 = comm.new_group("calib_calls", {0, 1});
      calls = measure_call_overheads(*g2, link_lat, link_bw > 0 ? link_bw : 1e9, call_detail);
    }
    world.barrier();
  }
  if (env.rank != 0) return {};

  Cluster cl;
  cl.name = cfg.value("name", "calibrated-cpu");
  cl.nodes = 1;
  cl.gpus_per_node = N;
  cl.gpu.name = "cpu-rank (" + std::to_string(at::get_num_threads()) + " threads)";
  long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGE_SIZE);
  cl.gpu.memory_bytes = double(pages) * double(page) / N;
  cl.gpu.memory_bytes_per_s = bw;
  std::string dtype = cfg.value("dtype", "fp32");
  (dtype == "bf16" ? cl.gpu.peak_flops_bf16 : dtype == "fp16" ? cl.gpu.peak_flops_fp16
                                                               : cl.gpu.peak_flops_fp32) = peak;
  cl.intra.kind = IntraKind::Shm;
  cl.intra.bandwidth_bytes_per_s = link_bw > 0 ? link_bw : 1e9;
  cl.intra.latency_s = link_lat;
  // On a GPU kernel launches overlap with the kernels already queued, so the per-operator host
  // time is not added to the step (kept under calibration.op_overhead); on a CPU it is the step's.
  cl.gpu.op_overhead_s = comm.backend() == "nccl" ? 0.0 : op_overhead;
  cl.intra.call_overhead_s = calls;
  cl.inter.topology = Topology::Star;
  cl.inter.nic_bytes_per_s = cl.intra.bandwidth_bytes_per_s;
  cl.inter.latency_s = cl.intra.latency_s;
  cl.host.memory_bytes = double(pages) * double(page);
  cl.host.pcie_bytes_per_s = bw;             // "host <-> device" is a memory copy here
  cl.host.cpu_adam_params_per_s = bw / 28;   // Adam streams ~28 bytes per fp32 parameter
  cl.efficiency.matmul_max = best_max;
  cl.efficiency.matmul_half_dim = best_h;
  cl.efficiency.memory_bound = memory_bound;
  cl.efficiency.intra_node_link = 1.0;
  cl.efficiency.inter_node_link = 1.0;
  cl.efficiency.memory_reserve = 0.0;
  // All communication shows in the step: the runtime reduces DP buckets during the backward pass
  // on its own thread, but on a CPU Gloo's threads take the cores the compute uses.
  cl.efficiency.overlap_slowdown = 1.0;
  auto j = to_json(cl);
  nlohmann::json mm = nlohmann::json::array();
  for (size_t i = 0; i < shapes.size(); ++i)
    mm.push_back({{"m", shapes[i].m}, {"n", shapes[i].n}, {"k", shapes[i].k}, {"tflops", flops[i] / 1e12}});
  j["calibration"] = {{"backend", comm.backend()}, {"ranks", N}, {"blas", blas_info()}, {"matmul", mm},
                      {"matmul_fit_rms_log_error", std::sqrt(best_err / double(shapes.size()))},
                      {"stream_GBps", bw / 1e9}, {"memory_bound_fraction", memory_bound},
                      {"overlap_slowdown_note",
                       "1.0: the runtime overlaps DP communication with the backward pass, but on "
                       "a CPU communication and compute share the cores"},
                      {"collectives", coll},
                      {"op_overhead", op_detail},
                      {"call_overheads", call_detail}};
  if (!plan_path.empty()) j["calibration"]["matmul_shapes_from_plan"] = plan_path;
  auto out = cfg.value("out", std::string());
  if (!out.empty()) write_file_atomic(out, j.dump(1) + "\n");
  return j;
}

nlohmann::json calibrate(const CalibrateOptions& o, const std::string& exe,
                         const std::vector<std::string>& worker_args) {
  if (o.nproc < 1) throw Error("--nproc must be >= 1");
  if (o.out.empty()) throw Error("--out is required");
  if (!o.plan.empty()) (void)load_plan(o.plan);  // bad input fails here, before any rank starts
  nlohmann::json cfg = {{"mode", "calibrate"}, {"out", o.out}, {"dtype", o.dtype},
                        {"timeout_s", o.timeout_s}, {"backend", o.backend}, {"name", o.name},
                        {"plan", o.plan}};
  LocalRendezvous rdzv;  // private dir: the ranks' FileStore and error files (no socket)
  spawn_local(exe, worker_args, o.nproc, 0, rdzv.env({{"PARPLAN_WORKER_CONFIG", cfg.dump()}}),
              o.timeout_s + 1, rdzv.dir());
  return parse_json_text(read_file(o.out), o.out);
}

}  // namespace parplan::runtime
