// Host overheads of eager training, measured for `parplan calibrate` (calibrate_host.hpp).
#include "calibrate_host.hpp"

#include <algorithm>
#include <functional>
#include <vector>

#include <torch/torch.h>

#include "comm.hpp"
#include "device.hpp"
#include "mappings.hpp"
#include "dp_overlap.hpp"
#include "gpt.hpp"
#include "parplan/cost/host_overhead.hpp"
#include "trace.hpp"

namespace parplan::runtime {

namespace {
double median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}
}  // namespace

namespace {
template <class F>
double fastest(F&& f, int reps) {
  f();  // warm-up (allocator, autograd engine threads)
  double b = 1e300;
  for (int r = 0; r < reps; ++r) {
    auto t0 = Clock::now();
    f();
    device_synchronize();
    b = std::min(b, seconds_since(t0));
  }
  return b;
}
}  // namespace

double measure_op_overhead(Communicator& comm, int rank, nlohmann::json& detail) {
  // The runtime's block, dense, on one rank (size-1 groups: no communication).
  auto self = comm.new_group("calib_self" + std::to_string(rank), {rank});
  ModelGroups groups{self.get(), self.get(), self.get(), nullptr};
  GptConfig cfg;
  cfg.layers = 1, cfg.hidden = 8, cfg.heads = 1, cfg.ffn_hidden = 32, cfg.vocab = 8;
  cfg.block_size = 4, cfg.first_layer = 0, cfg.last_layer = 1;
  Block block(cfg, groups, 0);
  block->to(device());
  auto x = torch::randn({1, 4, 8}, device_options().requires_grad(true));
  constexpr int kLayers = 8;  // a few blocks in a row, as a stage runs them
  auto pass = [&](bool backward) {
    auto y = x;
    for (int i = 0; i < kLayers; ++i) y = block->forward(y);
    if (backward) y.sum().backward();
  };
  const double fwd = fastest([&] { pass(false); }, 30) / kLayers;
  const double both = fastest([&] { pass(true); }, 30) / kLayers;
  Model m;
  m.layers = 1, m.hidden = 8, m.heads = 1, m.kv_heads = 1, m.ffn_hidden = 32, m.vocab = 8;
  Layout l;
  Training t;
  t.framework = "parplan-runtime";  // the runtime's operator inventory (examples/frameworks/)
  const cost::LayerOps counted = cost::layer_ops(m, t, l);
  const double ops = counted.fwd;
  const double per_op = both / ((1.0 + counted.backward_per_forward) * ops);  // fwd + bwd ops

  // Cross-check: a chain of N multiplications of a one-element tensor that requires a gradient
  // (N forward operators, N MulBackward nodes of one multiplication each).
  constexpr int N = 200;
  auto x0 = torch::ones({1}, device_options().requires_grad(true));
  auto chain = [&](bool backward) {
    auto y = x0;
    for (int i = 0; i < N; ++i) y = y * 1.0001;
    if (backward) y.sum().backward();
  };
  const double cf = fastest([&] { chain(false); }, 30), cb = fastest([&] { chain(true); }, 30);
  detail = {{"layer", "runtime block, hidden 8, 1 head, ffn 32, 4 tokens"},
            {"layer_forward_us", fwd * 1e6},
            {"layer_forward_backward_us", both * 1e6},
            {"layer_forward_ops_counted", ops},
            {"op_overhead_us", per_op * 1e6},
            {"chain_forward_us_per_op", cf / N * 1e6},
            {"chain_backward_us_per_op", std::max(0.0, cb - cf) / N * 1e6}};
  return per_op;
}

IntraNode::CallOverhead measure_call_overheads(Group& g, double lat_s, double bw,
                                               nlohmann::json& detail, double* bw_between) {
  IntraNode::CallOverhead r;
  const int p = g.size();
  if (p < 2) return r;
  // The compute between two calls: linear layers of a small transformer (tokens 256, hidden
  // 128), about 0.5 ms on one core; the messages: that layer's activation (128 KB fp32), as a
  // tensor-parallel all-reduce, a sequence-parallel gather or a context-parallel K/V block moves,
  // and 16 times that (2 MB), a data-parallel gradient bucket of a small model.
  auto a = torch::randn({256, 128}, device_options()), w = torch::randn({128, 128}, device_options());
  auto c = torch::empty({256, 128}, device_options());
  const int64_t small = 256 * 128, sizes[] = {small, 16 * small};
  std::vector<torch::Tensor> msg, buf, part;
  for (int64_t n : sizes) {
    msg.push_back(torch::ones({n}, device_options()));
    buf.push_back(torch::empty({n}, device_options()));
    part.push_back(torch::ones({n / p}, device_options()));
  }
  auto compute = [&] {
    for (int i = 0; i < 6; ++i) torch::mm_out(c, a, w);
    device_synchronize();
  };
  const int next = (g.rank() + 1) % p, prev = (g.rank() - 1 + p) % p;
  // 0 compute alone; then per message size: all-reduce, all-gather, reduce-scatter, send/recv (a
  // ring shift as the CP ring posts it, post_exchange).
  std::vector<std::function<void()>> ops = {[] {}};
  for (size_t s = 0; s < 2; ++s) {
    ops.push_back([&, s] { g.all_reduce(msg[s]); });
    ops.push_back([&, s] { g.all_gather(msg[s], part[s]); });
    ops.push_back([&, s] { g.reduce_scatter(part[s], msg[s]); });
    ops.push_back([&, s] {
      Pending snd, rcv;
      post_exchange(&g, msg[s], next, buf[s], prev, snd, rcv);
      rcv.wait();
      snd.wait();
    });
  }
  std::vector<std::vector<double>> ts(ops.size());
  constexpr int kIters = 60, kWarm = 5;
  g.barrier();
  for (int i = 0; i < kIters + kWarm; ++i)
    for (size_t k = 0; k < ops.size(); ++k) {
      auto t0 = Clock::now();
      compute();
      ops[k]();
      if (i >= kWarm) ts[k].push_back(seconds_since(t0));
    }
  auto agreed = [&](double v) {  // the group's mean
    auto t = torch::tensor({v}, torch::kFloat64);
    g.all_reduce(t);
    return t.item<double>() / p;
  };
  std::vector<double> med, mean;
  for (auto& v : ts) {
    med.push_back(agreed(median(v)));
    double sum = 0;
    for (double x : v) sum += x;
    mean.push_back(agreed(v.empty() ? 0.0 : sum / double(v.size())));
  }
  // Per operation: latency steps and the bytes each rank moves per message byte (ring models).
  const double pf = double(p), steps[] = {2 * (pf - 1), pf - 1, pf - 1, 1},
               moved[] = {2 * (pf - 1) / pf, (pf - 1) / pf, (pf - 1) / pf, 1};
  auto extra = [&](size_t s, size_t op) { return med[1 + 4 * s + op] - med[0]; };  // beyond compute
  // Bandwidth as training sees it: the per-byte slope between the two sizes of each operation
  // issued between compute (recorded; the link keeps the back-to-back loop's figure, which this
  // slope matched within its noise: docs/runtime.md).
  const double dbytes = double(sizes[1] - sizes[0]) * 4.0;
  double bw_ops[4];
  for (size_t op = 0; op < 4; ++op)
    bw_ops[op] = moved[op] * dbytes / std::max(extra(1, op) - extra(0, op), 1e-9);
  const double link_bw = bw;
  if (bw_between) *bw_between = bw_ops[0];
  const double bytes = double(sizes[0]) * 4.0;
  auto model = [&](size_t op) { return steps[op] * lat_s + moved[op] * bytes / link_bw; };
  auto fixed = [&](size_t op) { return std::max(0.0, extra(0, op) - model(op)); };
  r.all_reduce = fixed(0), r.all_gather = fixed(1), r.reduce_scatter = fixed(2), r.send_recv = fixed(3);
  // The overheads above are typical (median) calls; a step sums many, so it pays their mean. On
  // a host whose cores the ranks share, one rank is stalled now and then (a thread woken late)
  // and the blocking call waits for it: mean − median of the calls between compute (the 128 KB
  // messages, as tensor/sequence/context parallelism issue them), beyond the compute's own.
  double tail = 0;
  for (size_t op = 0; op < 4; ++op) tail += (mean[1 + op] - med[1 + op]) / 4.0;
  r.sync_wait = std::max(0.0, tail - (mean[0] - med[0]));

  const char* names[] = {"all_reduce", "all_gather", "reduce_scatter", "send_recv"};
  detail = {{"ranks", p}, {"message_bytes", {bytes, double(sizes[1]) * 4.0}},
            {"statistic", "median of 60 alternating iterations, mean over ranks"},
            {"between_compute_note", "per-byte slope of each operation issued between compute "
                                     "(128 KB and 2 MB)"}};
  detail["median_ms"]["compute_alone"] = med[0] * 1e3;
  detail["mean_ms"]["compute_alone"] = mean[0] * 1e3;
  detail["sync_wait_us"] = r.sync_wait * 1e6;
  for (size_t op = 0; op < 4; ++op) {
    detail["median_ms"][names[op]] = med[1 + op] * 1e3;
    detail["median_ms"][std::string(names[op]) + "_2MB"] = med[5 + op] * 1e3;
    detail["mean_ms"][names[op]] = mean[1 + op] * 1e3;
    detail["between_compute_bandwidth_GBps"][names[op]] = bw_ops[op] / 1e9;
    detail["model_ms"][names[op]] = model(op) * 1e3;
    detail["overhead_us"][names[op]] = fixed(op) * 1e6;
  }
  // The data-parallel collectives as the runtime issues them: on its communication thread
  // (dp_overlap.hpp CommQueue) while the compute thread runs the backward (here 2 ms of GEMMs),
  // waited after it; against the same compute followed by the same collective issued blocking.
  // What the concurrent issue costs beyond the blocking one is the host's cores being shared:
  // the compute threads fill them, and the communication thread takes its turns from them.
  auto long_compute = [&] {
    for (int i = 0; i < 24; ++i) torch::mm_out(c, a, w);
    device_synchronize();
  };
  CommQueue queue;
  std::vector<std::function<void()>> dp_ops = {
      [&] { g.all_reduce(msg[1]); }, [&] { g.reduce_scatter(part[1], msg[1]); },
      [&] { g.all_gather(msg[1], part[1]); }};
  std::vector<std::function<void()>> variants = {long_compute};
  for (auto& op : dp_ops) {
    variants.push_back([&] { long_compute(), op(); });
    variants.push_back([&] {
      auto t = queue.submit(op);
      long_compute();
      t.wait();
    });
  }
  std::vector<std::vector<double>> tc(variants.size());
  g.barrier();
  for (int i = 0; i < kIters + kWarm; ++i)
    for (size_t k = 0; k < variants.size(); ++k) {
      auto t0 = Clock::now();
      variants[k]();
      if (i >= kWarm) tc[k].push_back(seconds_since(t0));
    }
  std::vector<double> mc;
  for (auto& v : tc) mc.push_back(agreed(median(v)));
  double concurrent = 0;
  const char* dp_names[] = {"all_reduce", "reduce_scatter", "all_gather"};
  for (size_t k = 0; k < dp_ops.size(); ++k) {
    const double extra_k = mc[2 + 2 * k] - mc[1 + 2 * k];
    detail["comm_thread"]["blocking_ms"][dp_names[k]] = mc[1 + 2 * k] * 1e3;
    detail["comm_thread"]["concurrent_ms"][dp_names[k]] = mc[2 + 2 * k] * 1e3;
    concurrent += extra_k / double(dp_ops.size());
  }
  detail["comm_thread"]["compute_alone_ms"] = mc[0] * 1e3;
  detail["comm_thread"]["message_bytes"] = double(sizes[1]) * 4.0;
  r.concurrent = std::max(0.0, concurrent);
  detail["comm_thread"]["concurrent_extra_us"] = r.concurrent * 1e6;
  return r;
}

}  // namespace parplan::runtime
