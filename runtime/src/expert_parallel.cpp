// The MoE layer: top-k router, all-to-all dispatch to the experts' ranks, experts, combine.
#include "expert_parallel.hpp"

#include <cmath>

#include "llama_layers.hpp"
#include "mappings.hpp"
#include "tp_layers.hpp"  // init_normal

namespace parplan::runtime {

MoeImpl::MoeImpl(const MoeConfig& c, Group* ep_group, const std::string& name)
    : cfg(c), ep(ep_group), local(c.experts / ep_group->size()), first(ep_group->rank() * local) {
  const int64_t E = c.experts, H = c.hidden, F = c.ffn_hidden;
  router = register_parameter("router", init_normal(c.seed, name + ".router", {E, H}, 0.02));
  if (c.router_bias) router_b = register_parameter("router_bias", torch::zeros({E}));
  // Full-size draws, then this rank's experts: every EP degree starts from the same weights.
  auto fc = init_normal(c.seed, name + ".experts.fc", {E, F, H}, 0.02);
  auto proj = init_normal(c.seed, name + ".experts.proj", {E, H, F}, 0.02 / std::sqrt(2.0 * double(c.layers)));
  fc_w = register_parameter("experts_fc_weight", fc.narrow(0, first, local).clone());
  if (c.bias) fc_b = register_parameter("experts_fc_bias", torch::zeros({local, F}));
  if (c.gated) {
    auto up = init_normal(c.seed, name + ".experts.up", {E, F, H}, 0.02);
    up_w = register_parameter("experts_up_weight", up.narrow(0, first, local).clone());
  }
  proj_w = register_parameter("experts_proj_weight", proj.narrow(0, first, local).clone());
  if (c.bias) proj_b = register_parameter("experts_proj_bias", torch::zeros({local, H}));
}

namespace {

// Identity forward; the gradient times `scale` backward (the experts' 1/ep, before any reduction).
struct ScaleGrad : torch::autograd::Function<ScaleGrad> {
  static torch::Tensor forward(torch::autograd::AutogradContext* ctx, torch::Tensor x, double scale) {
    ctx->saved_data["scale"] = scale;
    return x.view_as(x);
  }
  static torch::autograd::tensor_list backward(torch::autograd::AutogradContext* ctx,
                                               torch::autograd::tensor_list grad) {
    return {grad[0] * ctx->saved_data["scale"].toDouble(), torch::Tensor()};
  }
};

std::vector<int64_t> to_vector(const torch::Tensor& t) {
  auto c = t.to(torch::kCPU, torch::kLong).contiguous();
  return std::vector<int64_t>(c.data_ptr<int64_t>(), c.data_ptr<int64_t>() + c.numel());
}
}  // namespace

torch::Tensor MoeImpl::forward(const torch::Tensor& x) {
  const int64_t H = cfg.hidden, E = cfg.experts, k = cfg.top_k;
  const int p = ep->size();
  auto xt = x.reshape({-1, H});
  const int64_t N = xt.size(0);

  // Router: softmax over the experts, top-k, renormalised.
  auto logits = router_b.defined() ? torch::nn::functional::linear(xt, router, router_b)
                                   : torch::matmul(xt, router.t());
  auto [top_p, top_e] = logits.softmax(-1).topk(k, -1);  // [N, k]
  top_p = top_p / top_p.sum(-1, true);

  // The N * k (token, expert) assignments sorted by expert: rank q's experts are contiguous.
  auto flat_e = top_e.reshape({-1});
  auto order = std::get<1>(flat_e.sort(/*stable=*/true, 0, false));
  auto xs = xt.index_select(0, order.div(k, "floor"));
  auto counts = to_vector(torch::bincount(flat_e, {}, E));  // rows per expert, [E]
  std::vector<int64_t> send(size_t(p), 0), recv(size_t(p), 0);
  for (int64_t e = 0; e < E; ++e) send[size_t(e / local)] += counts[size_t(e)];
  // recv_counts[q * local + j]: rows rank q sends to my expert j.
  auto recv_counts = ep::exchange_counts(counts, ep);
  for (int q = 0; q < p; ++q)
    for (int64_t j = 0; j < local; ++j) recv[size_t(q)] += recv_counts[size_t(q * local + j)];

  // Dispatch.
  auto xr = ep::all_to_all(xs, ep, send, recv);  // by source rank, then by expert

  // An expert's gradient sums the tokens of every EP rank that sent it some: 1/ep of it is this
  // rank's share of the DP average (the expert-DP optimizer averages over the rest).
  auto share = [&](const torch::Tensor& w) { return p == 1 || !w.defined() ? w : ScaleGrad::apply(w, 1.0 / p); };
  auto w1 = share(fc_w), b1 = share(fc_b), w2 = share(proj_w), b2 = share(proj_b), w3 = share(up_w);
  auto linear = [](const torch::Tensor& x, const torch::Tensor& w, const torch::Tensor& b) {
    return b.defined() ? torch::nn::functional::linear(x, w, b) : torch::matmul(x, w.t());
  };

  // Experts: the rows of local expert j are one block per source rank.
  std::vector<torch::Tensor> outs, rows;
  int64_t off = 0;
  std::vector<std::vector<int64_t>> idx(static_cast<size_t>(local));
  for (int q = 0; q < p; ++q)
    for (int64_t j = 0; j < local; ++j) {
      auto n = recv_counts[size_t(q * local + j)];
      for (int64_t i = 0; i < n; ++i) idx[size_t(j)].push_back(off + i);
      off += n;
    }
  torch::Tensor y = xr;  // no rows here: still part of the graph, so the combine's backward runs
  if (off > 0) {
    for (int64_t j = 0; j < local; ++j) {
      if (idx[size_t(j)].empty()) continue;
      auto ij = torch::tensor(idx[size_t(j)], torch::kLong).to(x.device());
      auto xj = xr.index_select(0, ij);
      auto h = linear(xj, w1[j], b1.defined() ? b1[j] : torch::Tensor());
      h = w3.defined() ? gated_activation(h, torch::matmul(xj, w3[j].t()), cfg.activation) : torch::gelu(h);
      outs.push_back(linear(h, w2[j], b2.defined() ? b2[j] : torch::Tensor()));
      rows.push_back(ij);
    }
    auto perm = torch::cat(rows);  // expert-major position -> row of xr
    y = torch::cat(outs).index_select(0, torch::argsort(perm));
  }

  // Combine: back to this rank in sorted order, unsorted, weighted by the router.
  auto yb = ep::all_to_all(y, ep, recv, send);
  auto per_assignment = yb.index_select(0, torch::argsort(order)).view({N, k, H});
  return (per_assignment * top_p.unsqueeze(-1)).sum(1).view(x.sizes());
}

void check_expert_parallel(const Plan& plan, std::vector<std::string>& errors) {
  const auto& l = plan.layout;
  const auto& moe = plan.model.moe;
  if (!plan.model.is_moe()) {
    if (l.ep > 1) errors.push_back("layout.ep > 1 needs a MoE model (model.moe.experts > 0)");
    return;
  }
  if (moe.experts_per_token < 1 || moe.experts_per_token > moe.experts)
    errors.push_back("model.moe.experts_per_token must be in 1..model.moe.experts");
  if (l.etp != 1) errors.push_back("layout.etp > 1 (expert tensor parallelism) is not implemented by the runtime; set etp 1");
  if (l.ep < 1 || moe.experts % l.ep) errors.push_back("model.moe.experts must be divisible by layout.ep");
  if (l.ep > 1 && l.dp % l.ep)
    errors.push_back("layout.dp must be divisible by layout.ep (the runtime takes the EP group out of the DP ranks)");
  if (moe.shared_experts > 0)
    errors.push_back("model.moe.shared_experts is not implemented by the runtime (set 0)");
  if (moe.capacity_factor > 0)
    errors.push_back("model.moe.capacity_factor: the runtime's MoE is dropless only (set 0)");
  if (l.sequence_parallel && l.tp > 1)
    errors.push_back("model.moe with layout.sequence_parallel is not implemented by the runtime");
  if (l.cp > 1) errors.push_back("model.moe with layout.cp > 1 is not implemented by the runtime");
}

}  // namespace parplan::runtime
