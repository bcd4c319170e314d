#pragma once
// Every collective the model's layers use, as autograd functions (Megatron-core
// tensor_parallel/mappings.py): each is a collective in one direction and its adjoint in the
// other, so every collective in the model is visible at its call site. Tensors are [B, T, C]:
// the sequence dimension is 1 (Megatron's [s, b, h] has it at 0). The layers that use them are
// in tp_layers.hpp, gpt.cpp, context_parallel.cpp and expert_parallel.cpp.
#include <vector>

#include <torch/torch.h>

#include "comm.hpp"

namespace parplan::runtime {

namespace tp {
// f in Megatron: identity forward, all-reduce of the gradient backward (input of a
// ColumnParallelLinear).
torch::Tensor copy_to_tp(const torch::Tensor& x, Group* g);
// g in Megatron: all-reduce forward, identity backward (output of a RowParallelLinear).
torch::Tensor reduce_from_tp(const torch::Tensor& x, Group* g);
// This rank's slice of the last dimension forward; all-gather of the gradient backward.
torch::Tensor scatter_to_tp(const torch::Tensor& x, Group* g);
// All-gather of the last dimension forward; this rank's slice of the gradient backward.
torch::Tensor gather_from_tp(const torch::Tensor& x, Group* g);
}  // namespace tp

// Sequence parallelism (Korthikanti et al. 2022, sec. 4.2.2): between the tensor-parallel
// regions the activations are split along the sequence over the TP group.
namespace sp {
// This rank's 1/tp of the sequence forward; all-gather of the gradient backward (after the
// embedding, whose output is replicated).
torch::Tensor scatter_to_sequence_parallel(const torch::Tensor& x, Group* g);
// All-gather of the sequence forward (before a column-parallel layer). Backward: reduce-scatter
// of the gradient when the consumer is tensor-parallel (each rank holds a partial gradient),
// or this rank's slice when the consumer is replicated (the head).
torch::Tensor gather_from_sequence_parallel(const torch::Tensor& x, Group* g,
                                            bool tensor_parallel_consumer = true);
// Reduce-scatter along the sequence forward (after a row-parallel layer, instead of the
// all-reduce); all-gather of the gradient backward.
torch::Tensor reduce_scatter_to_sequence_parallel(const torch::Tensor& x, Group* g);
// Identity forward on replicated parameters used inside the sequence-parallel region (norms,
// biases added after the reduce-scatter); backward sums their gradients over the TP group in
// one all-reduce, since each rank saw only its part of the sequence.
std::vector<torch::Tensor> sum_grads_over_sequence(const std::vector<torch::Tensor>& params, Group* g);
}  // namespace sp

// Posts a send of x to `to` and a receive into `into` from `from`, both asynchronous, in the
// order that keeps NCCL's two ranks of a pair from blocking each other (mappings.cpp
// sends_first): what the CP ring, EP's all-to-all and the host calibration's ring shift use.
void post_exchange(Group* g, const torch::Tensor& x, int to, const torch::Tensor& into, int from,
                   Pending& send, Pending& recv);

// Context parallelism: one step of a ring (forward: x to the next rank of the group, what the
// previous rank sent back; backward: the gradient travels the other way) in two halves, so
// that the work done in between hides the exchange, as Megatron-Core's ring attention posts the
// next K/V block's send/recv before computing the current block: ring_shift_start(x) posts the
// send of x and the receive, wait() returns what the previous rank sent (nothing may read it
// before). Backward: wait()'s node posts the gradient's shift as soon as that gradient is
// complete, and start's node waits for it, so the backward of the work in between (computed
// later in forward, so run earlier by the autograd engine) hides that exchange too.
namespace cp {
class RingShiftInFlight {
 public:
  RingShiftInFlight(torch::Tensor buf, c10::intrusive_ptr<torch::CustomClassHolder> state)
      : buf_(std::move(buf)), state_(std::move(state)) {}
  torch::Tensor wait();

 private:
  torch::Tensor buf_;
  c10::intrusive_ptr<torch::CustomClassHolder> state_;  // mappings.cpp ShiftState
};
RingShiftInFlight ring_shift_start(const torch::Tensor& x, Group* g);
}  // namespace cp

// Expert parallelism: all-to-all of rows. Rank r sends rows [sum(send[:q]), +send[q]) of x to
// rank q and receives recv[q] rows from it, concatenated in rank order. Backward: the same
// exchange reversed. (Point-to-point over the group: Gloo has no all-to-all-v here.)
namespace ep {
torch::Tensor all_to_all(const torch::Tensor& x, Group* g, const std::vector<int64_t>& send_rows,
                         const std::vector<int64_t>& recv_rows);
// Exchange of counts: out[q] = what rank q passed as counts[my rank] (not differentiable).
std::vector<int64_t> exchange_counts(const std::vector<int64_t>& counts, Group* g);
}  // namespace ep

}  // namespace parplan::runtime
