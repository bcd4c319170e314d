#pragma once
// The rank's optimizers as one: per model chunk (one unless interleaved), the dense parameters'
// ShardedOptimizer over the DP (x CP) group and, for a MoE model, the routed experts' over the
// expert-data-parallel group (expert_parallel.hpp). Each ShardedOptimizer runs its collectives on
// its own thread, so each gets a process group of its own. A chunk's optimizers share its forward
// hooks (ZeRO-3 gathers, pre-backward nodes) through one SegmentHooks that calls them all.
#include <memory>
#include <vector>

#include "parplan/model/error.hpp"
#include "zero.hpp"

namespace parplan::runtime {

class Optimizers {
 public:
  explicit Optimizers(int chunks) : hooks_(size_t(chunks)) {
    for (auto& h : hooks_) h = std::make_unique<ChunkHooks>();
  }
  void add(int chunk, StageUnits units, Group* group, int stage, AdamConfig adam, double bucket_bytes) {
    parts_.push_back({std::make_unique<ShardedOptimizer>(std::move(units), group, stage, adam, bucket_bytes), chunk});
    hooks_[size_t(chunk)]->parts.push_back(parts_.back().opt.get());
  }
  SegmentHooks* hooks(int chunk) { return hooks_[size_t(chunk)].get(); }

  void broadcast_from_first_rank() { each([](auto& o) { o.broadcast_from_first_rank(); }); }
  void gather_params() { each([](auto& o) { o.gather_params(); }); }
  void release_params() { each([](auto& o) { o.release_params(); }); }
  void begin_step(int micro_batches) { each([&](auto& o) { o.begin_step(micro_batches); }); }
  void end_backward(int chunk) {
    for (auto& p : parts_)
      if (p.chunk == chunk) p.opt->end_backward();
  }
  void finish_reduction() { each([](auto& o) { o.finish_reduction(); }); }
  void step() { each([](auto& o) { o.step(); }); }
  double reduced_in_backward() const {
    double s = 0;
    for (auto& p : parts_) s += p.opt->reduced_in_backward();
    return parts_.empty() ? 0 : s / double(parts_.size());
  }
  HeldBytes held_bytes_computed() const {
    HeldBytes h;
    for (auto& p : parts_) {
      auto x = p.opt->held_bytes_computed();
      h.params += x.params, h.grads += x.grads, h.optimizer += x.optimizer;
    }
    return h;
  }
  std::vector<torch::Tensor> state() const {
    std::vector<torch::Tensor> s;
    for (auto& p : parts_)
      for (auto& t : p.opt->state()) s.push_back(t);
    return s;
  }
  void load_state(const std::vector<torch::Tensor>& s) {
    if (parts_.empty() || s.size() % parts_.size()) throw Error("checkpoint: unexpected optimizer state");
    const size_t n = s.size() / parts_.size();
    for (size_t i = 0; i < parts_.size(); ++i)
      parts_[i].opt->load_state(std::vector<torch::Tensor>(s.begin() + long(i * n), s.begin() + long((i + 1) * n)));
  }

 private:
  struct ChunkHooks : SegmentHooks {
    std::vector<ShardedOptimizer*> parts;
    void before_forward(int segment) override {
      for (auto* o : parts) o->before_forward(segment);
    }
    torch::Tensor after_forward(int segment, torch::Tensor out) override {
      for (auto* o : parts) out = o->after_forward(segment, out);
      return out;
    }
  };
  struct Part {
    std::unique_ptr<ShardedOptimizer> opt;
    int chunk = 0;
  };
  template <class F>
  void each(F&& f) {
    for (auto& p : parts_) f(*p.opt);
  }
  std::vector<Part> parts_;
  std::vector<std::unique_ptr<ChunkHooks>> hooks_;
};

}  // namespace parplan::runtime
