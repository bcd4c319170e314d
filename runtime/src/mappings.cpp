// The model's collectives as autograd functions: tensor, sequence, context and expert parallel.
#include "mappings.hpp"

#include <numeric>

namespace parplan::runtime {

using torch::autograd::AutogradContext;
using torch::autograd::tensor_list;

namespace {

Group* group_of(AutogradContext* ctx) {
  return reinterpret_cast<Group*>(ctx->saved_data["group"].toInt());
}
void keep_group(AutogradContext* ctx, Group* g) {
  ctx->saved_data["group"] = reinterpret_cast<int64_t>(g);
}

// [p * n] from the all-gather, as p tensors shaped like `part`, concatenated along `dim`.
torch::Tensor all_gather_dim(Group* g, const torch::Tensor& x, int64_t dim) {
  auto xs = x.contiguous();
  auto out = torch::empty({g->size() * xs.numel()}, xs.options());
  g->all_gather(out, xs);
  std::vector<torch::Tensor> shaped;
  for (auto& p : out.view({g->size(), -1}).unbind(0)) shaped.push_back(p.view(xs.sizes()));
  return torch::cat(shaped, dim);
}

torch::Tensor my_slice(Group* g, const torch::Tensor& x, int64_t dim) {
  auto n = x.size(dim) / g->size();
  return x.narrow(dim, g->rank() * n, n).contiguous();
}

// Sum over the group of x, this rank keeping its 1/p slice of dimension `dim`.
torch::Tensor reduce_scatter_dim(Group* g, const torch::Tensor& x, int64_t dim) {
  const int64_t p = g->size();
  auto sizes = x.sizes().vec();
  const int64_t n = sizes[size_t(dim)] / p;
  std::vector<int64_t> split(sizes.begin(), sizes.begin() + dim);
  split.push_back(p);
  split.push_back(n);
  split.insert(split.end(), sizes.begin() + dim + 1, sizes.end());
  // Rank-major: chunk q of the flat buffer is rank q's part.
  auto in = x.reshape(split).movedim(dim, 0).contiguous().reshape({-1});
  auto out = torch::empty({in.numel() / p}, x.options());
  g->reduce_scatter(out, in);
  sizes[size_t(dim)] = n;
  return out.view(sizes);
}

constexpr int64_t kSeq = 1;  // [B, T, C]

struct CopyToTensorParallel : torch::autograd::Function<CopyToTensorParallel> {
  static torch::Tensor forward(AutogradContext* ctx, torch::Tensor x, Group* g) {
    keep_group(ctx, g);
    return x.view_as(x);
  }
  static tensor_list backward(AutogradContext* ctx, tensor_list grad) {
    auto gx = grad[0].contiguous().clone();
    group_of(ctx)->all_reduce(gx);
    return {gx, torch::Tensor()};
  }
};

struct ReduceFromTensorParallel : torch::autograd::Function<ReduceFromTensorParallel> {
  static torch::Tensor forward(AutogradContext*, torch::Tensor x, Group* g) {
    auto y = x.contiguous().clone();
    g->all_reduce(y);
    return y;
  }
  static tensor_list backward(AutogradContext*, tensor_list grad) { return {grad[0], torch::Tensor()}; }
};

struct ScatterToTensorParallel : torch::autograd::Function<ScatterToTensorParallel> {
  static torch::Tensor forward(AutogradContext* ctx, torch::Tensor x, Group* g) {
    keep_group(ctx, g);
    return my_slice(g, x, -1);
  }
  static tensor_list backward(AutogradContext* ctx, tensor_list grad) {
    return {all_gather_dim(group_of(ctx), grad[0], -1), torch::Tensor()};
  }
};

struct GatherFromTensorParallel : torch::autograd::Function<GatherFromTensorParallel> {
  static torch::Tensor forward(AutogradContext* ctx, torch::Tensor x, Group* g) {
    keep_group(ctx, g);
    return all_gather_dim(g, x, -1);
  }
  static tensor_list backward(AutogradContext* ctx, tensor_list grad) {
    return {my_slice(group_of(ctx), grad[0], -1), torch::Tensor()};
  }
};

struct ScatterToSequenceParallel : torch::autograd::Function<ScatterToSequenceParallel> {
  static torch::Tensor forward(AutogradContext* ctx, torch::Tensor x, Group* g) {
    keep_group(ctx, g);
    return my_slice(g, x, kSeq);
  }
  static tensor_list backward(AutogradContext* ctx, tensor_list grad) {
    return {all_gather_dim(group_of(ctx), grad[0], kSeq), torch::Tensor()};
  }
};

struct GatherFromSequenceParallel : torch::autograd::Function<GatherFromSequenceParallel> {
  static torch::Tensor forward(AutogradContext* ctx, torch::Tensor x, Group* g, bool tp_consumer) {
    keep_group(ctx, g);
    ctx->saved_data["tp_consumer"] = tp_consumer;
    return all_gather_dim(g, x, kSeq);
  }
  static tensor_list backward(AutogradContext* ctx, tensor_list grad) {
    auto* g = group_of(ctx);
    auto gx = ctx->saved_data["tp_consumer"].toBool() ? reduce_scatter_dim(g, grad[0], kSeq)
                                                      : my_slice(g, grad[0], kSeq);
    return {gx, torch::Tensor(), torch::Tensor()};
  }
};

struct ReduceScatterToSequenceParallel : torch::autograd::Function<ReduceScatterToSequenceParallel> {
  static torch::Tensor forward(AutogradContext* ctx, torch::Tensor x, Group* g) {
    keep_group(ctx, g);
    return reduce_scatter_dim(g, x, kSeq);
  }
  static tensor_list backward(AutogradContext* ctx, tensor_list grad) {
    return {all_gather_dim(group_of(ctx), grad[0], kSeq), torch::Tensor()};
  }
};

struct SumGradsOverSequence : torch::autograd::Function<SumGradsOverSequence> {
  static tensor_list forward(AutogradContext* ctx, at::TensorList params, Group* g) {
    keep_group(ctx, g);
    tensor_list out;
    for (auto& p : params) out.push_back(p.view_as(p));
    return out;
  }
  static tensor_list backward(AutogradContext* ctx, tensor_list grads) {
    // Unused outputs arrive as zeros (materialized grads). One all-reduce for all of them.
    std::vector<torch::Tensor> flat;
    for (auto& gr : grads) flat.push_back(gr.reshape({-1}));
    auto buf = torch::cat(flat);
    group_of(ctx)->all_reduce(buf);
    tensor_list out;
    int64_t off = 0;
    for (auto& gr : grads) {
      out.push_back(buf.narrow(0, off, gr.numel()).view(gr.sizes()));
      off += gr.numel();
    }
    out.push_back(torch::Tensor());
    return out;
  }
};

}  // namespace

namespace cp {
// One exchange in flight, shared by the two halves' autograd nodes (a capsule in their saved
// data keeps it alive until the backward). Pendings and buffers are dropped once waited for:
// the received buffer becomes the output of the start node, which holds this state.
struct ShiftState : torch::CustomClassHolder {
  Group* g = nullptr;
  Pending send, recv;              // forward: x to the next rank, the previous rank's x here
  torch::Tensor buf;               // forward: the receive buffer
  Pending grad_send, grad_recv;    // backward: the gradient to the previous rank, the next's here
  torch::Tensor grad_buf;          // backward: the receive buffer of the gradient
};
}  // namespace cp

namespace {

c10::intrusive_ptr<cp::ShiftState> shift_state(AutogradContext* ctx) {
  return c10::static_intrusive_pointer_cast<cp::ShiftState>(ctx->saved_data["state"].toCapsule());
}

// Which side of a two-way exchange posts its send first. Under NCCL a send and a receive between
// the same two ranks share one communicator and stream (ProcessGroupNCCL keys p2p by the rank
// pair), so two ranks that both post their send first wait on each other once a message outgrows
// NCCL's buffers (the NCCL user guide: a send and a receive with the same peer must not be issued
// in an order that lets them block each other). With one peer (to == from: a pair of EP's
// all-to-all, a CP ring of two) the lower rank sends first and the higher receives first; around a
// longer ring (to the next rank, from the previous) even ranks send first and odd ranks receive
// first. Either way each pair's first operations match; Gloo does not care.
bool sends_first(int rank, int to, int from) { return to == from ? rank < to : rank % 2 == 0; }

// Posts the send and the receive of one exchange in the order sends_first gives.
template <class PostSend, class PostRecv>
void post_in_order(int rank, int to, int from, PostSend&& post_send, PostRecv&& post_recv) {
  if (sends_first(rank, to, from)) {
    post_send();
    post_recv();
  } else {
    post_recv();
    post_send();
  }
}

}  // namespace

void post_exchange(Group* g, const torch::Tensor& x, int to, const torch::Tensor& into, int from,
                   Pending& send, Pending& recv) {
  post_in_order(g->rank(), to, from, [&] { send = g->send(x, to); },
                [&] { recv = g->recv_async(into, from); });
}

namespace {

// Posts the exchange (forward), returns the receive buffer, still being written. Backward: waits
// for the gradient's exchange that ShiftWait's backward posted and returns what arrived.
struct ShiftStart : torch::autograd::Function<ShiftStart> {
  static torch::Tensor forward(AutogradContext* ctx, torch::Tensor x,
                               c10::intrusive_ptr<cp::ShiftState> st) {
    Group* g = st->g;
    const int p = g->size(), r = g->rank();
    auto xs = x.contiguous();
    st->buf = torch::empty_like(xs);
    post_exchange(g, xs, (r + 1) % p, st->buf, (r - 1 + p) % p, st->send, st->recv);
    ctx->saved_data["state"] = c10::IValue::make_capsule(st);
    return st->buf;
  }
  static tensor_list backward(AutogradContext* ctx, tensor_list) {
    auto st = shift_state(ctx);
    st->grad_recv.wait();
    st->grad_send.wait();
    auto g = std::move(st->grad_buf);
    st->grad_buf = torch::Tensor();
    return {g, torch::Tensor()};
  }
};

// Waits for the exchange (forward) and passes the received tensor on. Backward: posts the
// gradient's exchange, the other way round the ring, and returns its receive buffer (read only by
// ShiftStart's backward, after its wait).
struct ShiftWait : torch::autograd::Function<ShiftWait> {
  static torch::Tensor forward(AutogradContext* ctx, torch::Tensor buf,
                               c10::intrusive_ptr<cp::ShiftState> st) {
    st->recv.wait();
    st->send.wait();
    st->buf = torch::Tensor();
    ctx->saved_data["state"] = c10::IValue::make_capsule(st);
    return buf;
  }
  static tensor_list backward(AutogradContext* ctx, tensor_list grad) {
    auto st = shift_state(ctx);
    Group* g = st->g;
    const int p = g->size(), r = g->rank();
    auto gs = grad[0].contiguous();
    st->grad_buf = torch::empty_like(gs);
    post_exchange(g, gs, (r - 1 + p) % p, st->grad_buf, (r + 1) % p, st->grad_send, st->grad_recv);
    return {st->grad_buf, torch::Tensor()};
  }
};

torch::Tensor exchange_rows(Group* g, const torch::Tensor& x, const std::vector<int64_t>& send,
                            const std::vector<int64_t>& recv) {
  const int p = g->size(), me = g->rank();
  auto xs = x.contiguous();
  std::vector<int64_t> so(size_t(p) + 1, 0), ro(size_t(p) + 1, 0);
  for (int q = 0; q < p; ++q) {
    so[size_t(q) + 1] = so[size_t(q)] + send[size_t(q)];
    ro[size_t(q) + 1] = ro[size_t(q)] + recv[size_t(q)];
  }
  auto sizes = xs.sizes().vec();
  sizes[0] = ro[size_t(p)];
  auto out = torch::empty(sizes, xs.options());
  // Every send and receive posted, in a matching order with each peer (sends_first), then waited
  // for: under NCCL a pair's first operations match whatever the message size.
  std::vector<Pending> pending;
  for (int q = 0; q < p; ++q) {
    auto dst = out.narrow(0, ro[size_t(q)], recv[size_t(q)]);  // rows: a contiguous view
    if (q == me) {
      dst.copy_(xs.narrow(0, so[size_t(q)], send[size_t(q)]));
      continue;
    }
    const bool sends = send[size_t(q)] > 0, receives = recv[size_t(q)] > 0;
    post_in_order(
        me, q, q,
        [&] {
          if (sends) pending.push_back(g->send(xs.narrow(0, so[size_t(q)], send[size_t(q)]), q));
        },
        [&] {
          if (receives) pending.push_back(g->recv_async(dst, q));
        });
  }
  for (auto& w : pending) w.wait();
  return out;
}

struct AllToAll : torch::autograd::Function<AllToAll> {
  static torch::Tensor forward(AutogradContext* ctx, torch::Tensor x, Group* g,
                               std::vector<int64_t> send, std::vector<int64_t> recv) {
    keep_group(ctx, g);
    ctx->saved_data["send"] = send;
    ctx->saved_data["recv"] = recv;
    return exchange_rows(g, x, send, recv);
  }
  static tensor_list backward(AutogradContext* ctx, tensor_list grad) {
    auto send = ctx->saved_data["send"].toIntVector(), recv = ctx->saved_data["recv"].toIntVector();
    return {exchange_rows(group_of(ctx), grad[0], recv, send), torch::Tensor(), torch::Tensor(),
            torch::Tensor()};
  }
};

}  // namespace

namespace tp {
torch::Tensor copy_to_tp(const torch::Tensor& x, Group* g) {
  return g->size() == 1 ? x : CopyToTensorParallel::apply(x, g);
}
torch::Tensor reduce_from_tp(const torch::Tensor& x, Group* g) {
  return g->size() == 1 ? x : ReduceFromTensorParallel::apply(x, g);
}
torch::Tensor scatter_to_tp(const torch::Tensor& x, Group* g) {
  return g->size() == 1 ? x : ScatterToTensorParallel::apply(x, g);
}
torch::Tensor gather_from_tp(const torch::Tensor& x, Group* g) {
  return g->size() == 1 ? x : GatherFromTensorParallel::apply(x, g);
}
}  // namespace tp

namespace sp {
torch::Tensor scatter_to_sequence_parallel(const torch::Tensor& x, Group* g) {
  return g->size() == 1 ? x : ScatterToSequenceParallel::apply(x, g);
}
torch::Tensor gather_from_sequence_parallel(const torch::Tensor& x, Group* g, bool tp_consumer) {
  return g->size() == 1 ? x : GatherFromSequenceParallel::apply(x, g, tp_consumer);
}
torch::Tensor reduce_scatter_to_sequence_parallel(const torch::Tensor& x, Group* g) {
  return g->size() == 1 ? x : ReduceScatterToSequenceParallel::apply(x, g);
}
std::vector<torch::Tensor> sum_grads_over_sequence(const std::vector<torch::Tensor>& params, Group* g) {
  if (g->size() == 1 || params.empty()) return params;
  // As a TensorList: autograd tracks the tensors of a list only in that form.
  return SumGradsOverSequence::apply(at::TensorList(params), g);
}
}  // namespace sp

namespace cp {
RingShiftInFlight ring_shift_start(const torch::Tensor& x, Group* g) {
  auto st = c10::make_intrusive<ShiftState>();
  st->g = g;
  return RingShiftInFlight(ShiftStart::apply(x, st), st);
}

torch::Tensor RingShiftInFlight::wait() {
  auto out = ShiftWait::apply(buf_, c10::static_intrusive_pointer_cast<ShiftState>(state_));
  buf_ = torch::Tensor();
  state_.reset();
  return out;
}
}  // namespace cp

namespace ep {
torch::Tensor all_to_all(const torch::Tensor& x, Group* g, const std::vector<int64_t>& send_rows,
                         const std::vector<int64_t>& recv_rows) {
  if (g->size() == 1) return x;
  return AllToAll::apply(x, g, send_rows, recv_rows);
}

std::vector<int64_t> exchange_counts(const std::vector<int64_t>& counts, Group* g) {
  const int p = g->size();
  if (p == 1) return counts;
  const int64_t k = int64_t(counts.size()) / p;
  auto t = torch::tensor(counts, torch::kLong);
  std::vector<int64_t> rows(size_t(p), k);
  auto got = exchange_rows(g, t.view({p * k, 1}), rows, rows).reshape({-1});
  return std::vector<int64_t>(got.data_ptr<int64_t>(), got.data_ptr<int64_t>() + got.numel());
}
}  // namespace ep

}  // namespace parplan::runtime
