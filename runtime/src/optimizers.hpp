#pragma once
// The rank's optimizers as one: the dense parameters' ShardedOptimizer over the DP (x CP) group
// and, for a MoE model, the routed experts' over the expert-data-parallel group
// (expert_parallel.hpp). Every call goes to each part; the experts' gradients are scaled by
// expert_grad_scale before their reduction.
#include <memory>
#include <vector>

#include "parplan/model/error.hpp"
#include "zero.hpp"

namespace parplan::runtime {

class Optimizers {
 public:
  Optimizers(std::vector<torch::Tensor> dense, Group* dp, std::vector<torch::Tensor> experts,
             Group* expert_dp, double expert_grad_scale, int stage, AdamConfig adam, double bucket_bytes)
      : expert_params_(experts), expert_scale_(expert_grad_scale) {
    parts_.push_back(std::make_unique<ShardedOptimizer>(std::move(dense), dp, stage, adam, bucket_bytes));
    if (!experts.empty())
      parts_.push_back(
          std::make_unique<ShardedOptimizer>(std::move(experts), expert_dp, stage, adam, bucket_bytes));
  }
  void broadcast_from_first_rank() { each([](auto& o) { o.broadcast_from_first_rank(); }); }
  void gather_params() { each([](auto& o) { o.gather_params(); }); }
  void release_params() { each([](auto& o) { o.release_params(); }); }
  void prepare_grads() { each([](auto& o) { o.prepare_grads(); }); }
  void reduce_grads() {
    if (expert_scale_ != 1.0) {
      torch::NoGradGuard g;
      for (auto& p : expert_params_)
        if (p.grad().defined()) p.mutable_grad().mul_(expert_scale_);
    }
    each([](auto& o) { o.reduce_grads(); });
  }
  void step() { each([](auto& o) { o.step(); }); }
  void release_grads() { each([](auto& o) { o.release_grads(); }); }
  HeldBytes held_bytes() const {
    HeldBytes h;
    for (auto& o : parts_) {
      auto x = o->held_bytes();
      h.params += x.params, h.grads += x.grads, h.optimizer += x.optimizer;
    }
    return h;
  }
  std::vector<torch::Tensor> state() const {
    std::vector<torch::Tensor> s;
    for (auto& o : parts_)
      for (auto& t : o->state()) s.push_back(t);
    return s;
  }
  void load_state(const std::vector<torch::Tensor>& s) {
    const size_t n = s.size() / parts_.size();
    if (s.size() % parts_.size()) throw Error("checkpoint: unexpected optimizer state");
    for (size_t i = 0; i < parts_.size(); ++i)
      parts_[i]->load_state(std::vector<torch::Tensor>(s.begin() + long(i * n), s.begin() + long((i + 1) * n)));
  }
  ShardedOptimizer& dense() { return *parts_.front(); }

 private:
  template <class F>
  void each(F&& f) {
    for (auto& o : parts_) f(*o);
  }
  std::vector<std::unique_ptr<ShardedOptimizer>> parts_;
  std::vector<torch::Tensor> expert_params_;
  double expert_scale_;
};

}  // namespace parplan::runtime
