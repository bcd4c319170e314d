#pragma once
// Data parallelism and ZeRO (Rajbhandari et al. 2020) over flat buffers, layer by layer.
// A stage's parameters are grouped into units (the embeddings, each block, the head: the forward
// segments of segment_hooks.hpp) and the units into buckets: for ZeRO 0/1 runs of consecutive
// units up to the bucket size, for ZeRO 2/3 one unit each. Every bucket is padded to a multiple of
// dp and rank r owns chunk r of every bucket (Megatron-core's distributed optimizer shards each
// bucket the same way), so a bucket is reduce-scattered or all-gathered on its own.
//   stage 0: gradients accumulate in a flat buffer (parameters' .grad are views into it); in the
//            last micro-batch's backward each bucket is all-reduced as soon as its gradients are
//            complete (AccumulateGrad post hooks), overlapping the rest of the backward.
//   stage 1: as 0 with an in-place reduce-scatter per bucket; Adam moments for the owned chunks;
//            parameters all-gathered per bucket after the update.
//   stage 2: only the gradient shard persists; each micro-batch's backward produces one layer's
//            gradients into a layer buffer that is reduce-scattered (added to the shard) as soon
//            as the layer is done, then freed: one layer is produced while the previous one is in
//            flight.
//   stage 3: as 2, and only the parameter shard persists: a layer's parameters are gathered just
//            before its forward and again before its backward, the next layer's gather is issued
//            (prefetch) when one starts, and a layer's storage is freed when it is done (the
//            autograd graph keeps views of the storage, which the backward gather refills).
// DP collectives run on a CommQueue thread, in the same order on every rank.
#include <memory>
#include <string>
#include <vector>

#include <torch/torch.h>

#include "comm.hpp"
#include "dp_overlap.hpp"
#include "segment_hooks.hpp"

namespace parplan::runtime {

struct AdamConfig {
  double lr = 1e-3, beta1 = 0.9, beta2 = 0.95, eps = 1e-8;
};

// Model-state bytes computed from the buffer sizes (not measured).
struct HeldBytes {
  double params = 0, grads = 0, optimizer = 0;
  double total() const { return params + grads + optimizer; }
};

// A stage's parameters by unit, and the unit each forward segment runs.
struct StageUnits {
  std::vector<std::vector<torch::Tensor>> units;
  std::vector<int> segment_unit;           // -1: the segment has no parameters on this stage
  std::vector<torch::Tensor> reused;       // used more than once per forward (tied embedding)
};
// From named_parameters() of a GptStage with `blocks` blocks: "wte."/"wpe." are segment 0,
// "blocks.K." segment K + 1, the rest (ln_f, head) segment blocks + 1. Tied: the head shares the
// embeddings' unit.
StageUnits stage_units(const torch::OrderedDict<std::string, torch::Tensor>& named, int64_t blocks,
                       bool tied);

class ShardedOptimizer : public SegmentHooks {
 public:
  // `queue`: the thread that runs this group's collectives. Optimizers over the same group (the
  // chunks of an interleaved pipeline) must share one, or two threads would issue collectives on
  // the group in an order that differs between ranks. Null: a queue of its own.
  ShardedOptimizer(StageUnits units, Group* dp, int stage, AdamConfig adam, double bucket_bytes,
                   std::shared_ptr<CommQueue> queue = nullptr);
  ~ShardedOptimizer() override;

  void broadcast_from_first_rank();  // DP ranks start from rank 0's weights
  void gather_params();              // ZeRO-3: materialise all parameters (evaluation, sampling)
  void release_params();             // ZeRO-3: free them again

  void begin_step(int micro_batches);  // before the step's first forward
  void end_backward();                 // after each micro-batch's backward: reduce what is left
  void finish_reduction();             // wait for every reduction; average over dp
  void step();                         // Adam on this rank's chunks, then all-gather (stage 1, 2)

  // SegmentHooks (ZeRO-3 gathers/frees; ZeRO-2/3 attach the pre-backward node).
  void before_forward(int segment) override;
  torch::Tensor after_forward(int segment, torch::Tensor out) override;
  void before_backward(int segment);  // called by the pre-backward node

  HeldBytes held_bytes_computed() const;  // model state kept between steps, from buffer sizes
  int64_t numel() const { return numel_; }
  size_t buckets() const { return buckets_.size(); }
  double reduced_in_backward() const;  // fraction of buckets launched by the hooks last step

  // Checkpoint: this rank's params (full or shard), moments and step count.
  std::vector<torch::Tensor> state() const;
  void load_state(const std::vector<torch::Tensor>& s);

 private:
  struct Param {
    torch::Tensor t;
    std::vector<int64_t> shape;
    int64_t numel = 0, offset = 0;  // offset inside its bucket
    int bucket = 0;
  };
  struct Bucket {
    int first = 0, last = 0;  // params [first, last)
    int64_t numel = 0, padded = 0, chunk = 0;
    int64_t offset = 0;        // in the flat buffers (stage 0-2)
    int64_t shard_offset = 0;  // in the shard (moments, grad shard, param shard)
    bool at_end = false;       // holds a reused parameter: reduced after the backward
  };
  enum class State { Freed, Gathering, Ready };

  void ready(size_t param);
  void launch(int b);
  void launch_in_order(bool all);
  void materialize(int b);
  void prefetch(int b);
  void free_unit(int b);
  int bucket_of_segment(int segment) const;
  int neighbour_bucket(int segment, int dir) const;
  void alloc_grad_bucket(int b);
  torch::Tensor own_params(int b);
  torch::Tensor own_grads(int b);
  void set_views(int b, const torch::Tensor& flat, bool grads);

  std::vector<Param> params_;
  std::vector<Bucket> buckets_;
  std::vector<int> segment_bucket_;
  Group* dp_;
  int stage_;
  AdamConfig adam_;
  int64_t numel_ = 0, padded_ = 0, shard_ = 0;
  torch::TensorOptions opts_;
  int64_t t_ = 0;

  torch::Tensor flat_params_;           // stage 0-2
  torch::Tensor flat_grads_;            // stage 0-1
  std::vector<torch::Tensor> full_;     // stage 3: per bucket, storage freed when not in use
  std::vector<State> state_;
  std::vector<Ticket> gather_;
  bool pinned_ = false;                 // gather_params() holds everything
  torch::Tensor param_shard_;           // stage 3
  torch::Tensor grad_shard_;            // stage 2-3
  std::vector<torch::Tensor> grad_buf_;  // stage 2-3: the layer gradients being produced
  torch::Tensor m_, v_;

  // Gradient readiness in the current backward.
  std::unique_ptr<GradReadyHooks> hooks_;
  std::vector<int> ready_count_;
  std::vector<bool> launched_;
  int next_launch_ = -1;  // buckets launch from the last to the first
  bool reducing_ = false;  // this backward reduces (stage 0/1: the last micro-batch only)
  int micro_batches_ = 1, backwards_ = 0;
  int hooked_launches_ = 0, launches_ = 0;
  std::vector<Ticket> inflight_;

  std::shared_ptr<CommQueue> queue_;  // last: its thread stops first (when not shared)
};

}  // namespace parplan::runtime
