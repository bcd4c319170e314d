#pragma once
// Megatron-style tensor-parallel linear layers (Shoeybi et al. 2019, sec. 3): a column-parallel
// layer splits the output features across the TP group, a row-parallel layer the input features
// and all-reduces its output. Weights are initialised full-size from a per-name seed and sliced,
// so any TP degree starts from exactly the single-process weights.
// With sequence parallelism (Korthikanti et al. 2022, sec. 4.2.2) the input of a column-parallel
// layer is the sequence-sharded activation, all-gathered first, and a row-parallel layer
// reduce-scatters its output along the sequence instead of all-reducing it.
#include <string>

#include <torch/torch.h>

#include "comm.hpp"
#include "mappings.hpp"

namespace parplan::runtime {

// A full-size parameter drawn from N(0, std) with a generator seeded by (seed, name).
torch::Tensor init_normal(uint64_t seed, const std::string& name, at::IntArrayRef shape, double std);

// The input of column-parallel layers: copy_to_tp, or the sequence all-gather under SP. Layers
// sharing an input (Q, K, V) share it: one backward collective, as Megatron's fused QKV layer.
inline torch::Tensor column_parallel_input(const torch::Tensor& x, Group* tp, bool sequence_parallel) {
  return sequence_parallel ? sp::gather_from_sequence_parallel(x, tp) : tp::copy_to_tp(x, tp);
}

struct ColumnParallelLinearImpl : torch::nn::Module {
  Group* tp;
  bool gather_output, sequence_parallel;
  torch::Tensor weight, bias;  // [out/tp, in], [out/tp]
  // `with_bias` false: no bias (Llama). shard / shards: which slice of the output features this
  // rank holds (default: its TP rank of tp; GQA's replicated KV heads pass their own).
  ColumnParallelLinearImpl(int64_t in, int64_t out, Group* tp_group, uint64_t seed,
                           const std::string& name, double std, bool sp = false, bool gather = false,
                           bool with_bias = true, int shard = -1, int shards = -1)
      : tp(tp_group), gather_output(gather), sequence_parallel(sp) {
    if (shards < 1) shard = tp->rank(), shards = tp->size();
    auto n = out / shards;
    auto full = init_normal(seed, name + ".weight", {out, in}, std);
    weight = register_parameter("weight", full.narrow(0, shard * n, n).clone());
    if (with_bias) bias = register_parameter("bias", torch::zeros({n}));
  }
  torch::Tensor forward(const torch::Tensor& x) {
    return forward_copied(column_parallel_input(x, tp, sequence_parallel));
  }
  // For x already passed through column_parallel_input.
  torch::Tensor forward_copied(const torch::Tensor& x) { return forward_copied_with(x, weight, bias); }
  // With the parameters given (GQA's replicated KV heads: through a gradient sum).
  torch::Tensor forward_copied_with(const torch::Tensor& x, const torch::Tensor& w, const torch::Tensor& b) {
    auto y = b.defined() ? torch::nn::functional::linear(x, w, b) : torch::matmul(x, w.t());
    return gather_output ? tp::gather_from_tp(y, tp) : y;
  }
};
TORCH_MODULE(ColumnParallelLinear);

struct RowParallelLinearImpl : torch::nn::Module {
  Group* tp;
  bool sequence_parallel;
  torch::Tensor weight, bias;  // [out, in/tp], [out] (replicated, added after the reduction)
  RowParallelLinearImpl(int64_t in, int64_t out, Group* tp_group, uint64_t seed,
                        const std::string& name, double std, bool sp = false, bool with_bias = true)
      : tp(tp_group), sequence_parallel(sp) {
    auto n = in / tp->size();
    auto full = init_normal(seed, name + ".weight", {out, in}, std);
    weight = register_parameter("weight", full.narrow(1, tp->rank() * n, n).clone());
    if (with_bias) bias = register_parameter("bias", torch::zeros({out}));
  }
  // `b`: the bias to add (under SP the caller passes it through sp::sum_grads_over_sequence);
  // undefined: none.
  torch::Tensor forward(const torch::Tensor& x_parallel) { return forward_with_bias(x_parallel, bias); }
  torch::Tensor forward_with_bias(const torch::Tensor& x_parallel, const torch::Tensor& b) {
    auto y = torch::matmul(x_parallel, weight.t());
    auto r = sequence_parallel ? sp::reduce_scatter_to_sequence_parallel(y, tp) : tp::reduce_from_tp(y, tp);
    return b.defined() ? r + b : r;
  }
};
TORCH_MODULE(RowParallelLinear);

}  // namespace parplan::runtime
