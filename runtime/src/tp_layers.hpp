#pragma once
// Megatron-style tensor-parallel linear layers (Shoeybi et al. 2019, sec. 3): a column-parallel
// layer splits the output features across the TP group, a row-parallel layer the input features
// and all-reduces its output. Weights are initialised full-size from a per-name seed and sliced,
// so any TP degree starts from exactly the single-process weights.
#include <string>

#include <torch/torch.h>

#include "comm.hpp"
#include "mappings.hpp"

namespace parplan::runtime {

// A full-size parameter drawn from N(0, std) with a generator seeded by (seed, name).
torch::Tensor init_normal(uint64_t seed, const std::string& name, at::IntArrayRef shape, double std);

struct ColumnParallelLinearImpl : torch::nn::Module {
  Group* tp;
  bool gather_output;
  torch::Tensor weight, bias;  // [out/tp, in], [out/tp]
  ColumnParallelLinearImpl(int64_t in, int64_t out, Group* tp_group, uint64_t seed,
                           const std::string& name, double std, bool gather = false)
      : tp(tp_group), gather_output(gather) {
    auto n = out / tp->size();
    auto full = init_normal(seed, name + ".weight", {out, in}, std);
    weight = register_parameter("weight", full.narrow(0, tp->rank() * n, n).clone());
    bias = register_parameter("bias", torch::zeros({n}));
  }
  torch::Tensor forward(const torch::Tensor& x) { return forward_copied(tp::copy_to_tp(x, tp)); }
  // For x already passed through copy_to_tp: layers sharing an input (Q, K, V) share one
  // backward all-reduce of its gradient, as Megatron's fused QKV layer does.
  torch::Tensor forward_copied(const torch::Tensor& x) {
    auto y = torch::nn::functional::linear(x, weight, bias);
    return gather_output ? tp::gather_from_tp(y, tp) : y;
  }
};
TORCH_MODULE(ColumnParallelLinear);

struct RowParallelLinearImpl : torch::nn::Module {
  Group* tp;
  torch::Tensor weight, bias;  // [out, in/tp], [out] (replicated, added after the reduction)
  RowParallelLinearImpl(int64_t in, int64_t out, Group* tp_group, uint64_t seed,
                        const std::string& name, double std)
      : tp(tp_group) {
    auto n = in / tp->size();
    auto full = init_normal(seed, name + ".weight", {out, in}, std);
    weight = register_parameter("weight", full.narrow(1, tp->rank() * n, n).clone());
    bias = register_parameter("bias", torch::zeros({out}));
  }
  torch::Tensor forward(const torch::Tensor& x_parallel) {
    auto y = torch::matmul(x_parallel, weight.t());
    return tp::reduce_from_tp(y, tp) + bias;
  }
};
TORCH_MODULE(RowParallelLinear);

}  // namespace parplan::runtime
