#pragma once
// Tensor-parallel communication as autograd functions (Megatron-core
// tensor_parallel/mappings.py): each is a collective in one direction and its adjoint in the
// other, so every TP collective in the model is visible at its call site.
#include <torch/torch.h>

#include "comm.hpp"

namespace parplan::runtime::tp {

namespace detail {
inline Group* group_of(torch::autograd::AutogradContext* ctx) {
  return reinterpret_cast<Group*>(ctx->saved_data["group"].toInt());
}
inline void keep_group(torch::autograd::AutogradContext* ctx, Group* g) {
  ctx->saved_data["group"] = reinterpret_cast<int64_t>(g);
}
inline torch::Tensor all_gather_last_dim(Group* g, const torch::Tensor& x) {
  auto xs = x.contiguous();
  auto out = torch::empty({g->size() * xs.numel()}, xs.options());
  g->all_gather(out, xs);
  auto parts = out.view({g->size(), -1}).unbind(0);
  std::vector<torch::Tensor> shaped;
  for (auto& p : parts) shaped.push_back(p.view(xs.sizes()));
  return torch::cat(shaped, -1);
}
}  // namespace detail

// f in Megatron: identity forward, all-reduce of the gradient backward (input of a
// ColumnParallelLinear).
struct CopyToTensorParallel : torch::autograd::Function<CopyToTensorParallel> {
  static torch::Tensor forward(torch::autograd::AutogradContext* ctx, torch::Tensor x, Group* g) {
    detail::keep_group(ctx, g);
    return x.view_as(x);
  }
  static torch::autograd::tensor_list backward(torch::autograd::AutogradContext* ctx,
                                               torch::autograd::tensor_list grad) {
    auto gx = grad[0].contiguous().clone();
    detail::group_of(ctx)->all_reduce(gx);
    return {gx, torch::Tensor()};
  }
};

// g in Megatron: all-reduce forward, identity backward (output of a RowParallelLinear).
struct ReduceFromTensorParallel : torch::autograd::Function<ReduceFromTensorParallel> {
  static torch::Tensor forward(torch::autograd::AutogradContext*, torch::Tensor x, Group* g) {
    auto y = x.contiguous().clone();
    g->all_reduce(y);
    return y;
  }
  static torch::autograd::tensor_list backward(torch::autograd::AutogradContext*,
                                               torch::autograd::tensor_list grad) {
    return {grad[0], torch::Tensor()};
  }
};

// Keep this rank's slice of the last dimension forward; all-gather the gradient backward.
struct ScatterToTensorParallel : torch::autograd::Function<ScatterToTensorParallel> {
  static torch::Tensor forward(torch::autograd::AutogradContext* ctx, torch::Tensor x, Group* g) {
    detail::keep_group(ctx, g);
    auto n = x.size(-1) / g->size();
    return x.narrow(-1, g->rank() * n, n).contiguous();
  }
  static torch::autograd::tensor_list backward(torch::autograd::AutogradContext* ctx,
                                               torch::autograd::tensor_list grad) {
    return {detail::all_gather_last_dim(detail::group_of(ctx), grad[0]), torch::Tensor()};
  }
};

// All-gather the last dimension forward; keep this rank's slice of the gradient backward.
struct GatherFromTensorParallel : torch::autograd::Function<GatherFromTensorParallel> {
  static torch::Tensor forward(torch::autograd::AutogradContext* ctx, torch::Tensor x, Group* g) {
    detail::keep_group(ctx, g);
    return detail::all_gather_last_dim(g, x);
  }
  static torch::autograd::tensor_list backward(torch::autograd::AutogradContext* ctx,
                                               torch::autograd::tensor_list grad) {
    auto* g = detail::group_of(ctx);
    auto n = grad[0].size(-1) / g->size();
    return {grad[0].narrow(-1, g->rank() * n, n).contiguous(), torch::Tensor()};
  }
};

inline torch::Tensor copy_to_tp(const torch::Tensor& x, Group* g) {
  return g->size() == 1 ? x : CopyToTensorParallel::apply(x, g);
}
inline torch::Tensor reduce_from_tp(const torch::Tensor& x, Group* g) {
  return g->size() == 1 ? x : ReduceFromTensorParallel::apply(x, g);
}
inline torch::Tensor scatter_to_tp(const torch::Tensor& x, Group* g) {
  return g->size() == 1 ? x : ScatterToTensorParallel::apply(x, g);
}
inline torch::Tensor gather_from_tp(const torch::Tensor& x, Group* g) {
  return g->size() == 1 ? x : GatherFromTensorParallel::apply(x, g);
}

}  // namespace parplan::runtime::tp
