// Host overheads of eager training, measured for `parplan calibrate` (calibrate_host.hpp).
#include "calibrate_host.hpp"

#include <algorithm>
#include <functional>
#include <vector>

#include <torch/torch.h>

#include "comm.hpp"
#include "device.hpp"
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
  const double ops = cost::layer_ops(m, l).fwd;
  const double per_op = both / (3.0 * ops);  // forward ops + 2 backward ops each

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
                                               nlohmann::json& detail) {
  IntraNode::CallOverhead r;
  const int p = g.size();
  if (p < 2) return r;
  // The compute between two calls: linear layers of a small transformer (tokens 256, hidden
  // 128), about 0.5 ms on one core; the message: that layer's activation (128 KB fp32), as a
  // tensor-parallel all-reduce, a sequence-parallel gather or a context-parallel K/V block moves.
  auto a = torch::randn({256, 128}, device_options()), w = torch::randn({128, 128}, device_options());
  auto c = torch::empty({256, 128}, device_options());
  const int64_t numel = 256 * 128;
  auto msg = torch::ones({numel}, device_options()), buf = torch::empty_like(msg);
  auto part = torch::ones({numel / p}, device_options());
  const double bytes = double(numel) * 4.0;
  auto compute = [&] {
    for (int i = 0; i < 6; ++i) torch::mm_out(c, a, w);
    device_synchronize();
  };
  const int next = (g.rank() + 1) % p, prev = (g.rank() - 1 + p) % p;
  // 0 compute alone, 1 all-reduce, 2 all-gather, 3 reduce-scatter, 4 send/recv (a ring shift as
  // cp::ring_shift issues it).
  std::vector<std::function<void()>> ops = {
      [] {},
      [&] { g.all_reduce(msg); },
      [&] { g.all_gather(msg, part); },
      [&] { g.reduce_scatter(part, msg); },
      [&] {
        auto s = g.send(msg, next);
        g.recv(buf, prev);
        s.wait();
      }};
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
  std::vector<double> med;
  for (auto& v : ts) med.push_back(agreed(median(v)));
  const double pf = double(p), steps = pf - 1, share = (pf - 1) / pf * bytes / bw;
  const double model[] = {0, 2 * steps * lat_s + 2 * share, steps * lat_s + share,
                          steps * lat_s + share, lat_s + bytes / bw};
  auto fixed = [&](size_t k) { return std::max(0.0, med[k] - med[0] - model[k]); };
  r.all_reduce = fixed(1), r.all_gather = fixed(2), r.reduce_scatter = fixed(3), r.send_recv = fixed(4);
  const char* names[] = {"compute_alone", "all_reduce", "all_gather", "reduce_scatter", "send_recv"};
  detail = {{"ranks", p}, {"message_bytes", bytes},
            {"statistic", "median of 60 alternating iterations, mean over ranks"}};
  for (size_t k = 0; k < ops.size(); ++k) {
    detail["median_ms"][names[k]] = med[k] * 1e3;
    if (k > 0) {
      detail["model_ms"][names[k]] = model[k] * 1e3;
      detail["overhead_us"][names[k]] = fixed(k) * 1e6;
    }
  }
  return r;
}

}  // namespace parplan::runtime
