#pragma once
// Data parallelism and ZeRO (Rajbhandari et al. 2020) over flat buffers. All parameters of a
// stage live in one flat fp32 buffer (padded to a multiple of dp); module parameters are views
// into it, and so are their gradients.
//   stage 0: bucketed gradient all-reduce, full Adam state on every rank
//   stage 1: gradient reduce-scatter, Adam moments for this rank's 1/dp shard, param all-gather
//   stage 2: as 1, and only the gradient shard is kept between steps
//   stage 3: as 2, and only the parameter shard is kept; full params gathered for each step's
//            forward/backward (per micro-batch without pipelining) and released after
#include <vector>

#include <torch/torch.h>

#include "comm.hpp"

namespace parplan::runtime {

struct AdamConfig {
  double lr = 1e-3, beta1 = 0.9, beta2 = 0.95, eps = 1e-8;
};

struct HeldBytes {
  double params = 0, grads = 0, optimizer = 0;
  double total() const { return params + grads + optimizer; }
};

class ShardedOptimizer {
 public:
  ShardedOptimizer(std::vector<torch::Tensor> params, Group* dp, int stage, AdamConfig adam,
                   double bucket_bytes);

  void broadcast_from_first_rank();  // DP ranks start from rank 0's weights
  void gather_params();              // ZeRO-3: materialise full params (no-op otherwise)
  void release_params();             // ZeRO-3: drop full params
  void prepare_grads();              // give every parameter a zeroed grad view
  void reduce_grads();               // average gradients over dp (all-reduce / reduce-scatter)
  void step();                       // Adam on this rank's part, then all-gather params (1, 2)
  void release_grads();              // ZeRO-2/3: drop the full gradient buffer

  HeldBytes held_bytes() const;      // model state this rank keeps between steps
  int64_t numel() const { return numel_; }

  // Checkpoint: this rank's params (full or shard), moments and step count.
  std::vector<torch::Tensor> state() const;
  void load_state(const std::vector<torch::Tensor>& s);

 private:
  torch::Tensor own_params();  // the slice of params this rank updates
  void set_param_views(const torch::Tensor& flat);
  void set_grad_views(const torch::Tensor& flat);

  std::vector<torch::Tensor> params_;
  std::vector<std::vector<int64_t>> shapes_;  // as declared (ZeRO-3 empties the params)
  std::vector<int64_t> sizes_;
  Group* dp_;
  int stage_;
  AdamConfig adam_;
  int64_t bucket_elems_;
  int64_t numel_ = 0, padded_ = 0, shard_ = 0;
  torch::Tensor flat_params_;  // full (stage < 3) or empty between steps (stage 3)
  torch::Tensor param_shard_;  // stage 3 only
  torch::Tensor flat_grads_;   // full while gradients are being produced
  torch::Tensor grad_shard_;   // stage >= 1: the reduced gradient of this rank's shard
  torch::Tensor m_, v_;
  torch::TensorOptions opts_;  // fp32 on the parameters' device
  int64_t t_ = 0;
};

}  // namespace parplan::runtime
