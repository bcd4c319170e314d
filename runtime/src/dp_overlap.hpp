#pragma once
// What lets DP communication overlap the backward pass:
//  - CommQueue: one thread that runs a group's collectives in the order they were submitted (the
//    same order on every rank, as a CUDA stream orders NCCL calls), so the compute thread only
//    submits and later waits. Gloo in LibTorch 1.13 has no reduce_scatter; the p2p ring it is
//    built from blocks, so it runs here instead of on the compute thread.
//  - GradReadyHooks: a post hook on each parameter's AccumulateGrad node (LibTorch 1.13 has no
//    register_post_accumulate_grad_hook; DDP's reducer hooks the same node), called once the
//    parameter's .grad holds this backward's contribution.
#include <condition_variable>
#include <deque>
#include <functional>
#include <future>
#include <memory>
#include <mutex>
#include <thread>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>
#include <torch/torch.h>

namespace parplan::runtime {

// A submitted task; wait() rethrows what it threw.
class Ticket {
 public:
  Ticket() = default;
  explicit Ticket(std::shared_future<void> f) : f_(std::move(f)) {}
  void wait();
  bool valid() const { return f_.valid(); }
  bool done() const;

 private:
  std::shared_future<void> f_;
};

class CommQueue {
 public:
  CommQueue();
  ~CommQueue();
  CommQueue(const CommQueue&) = delete;
  CommQueue& operator=(const CommQueue&) = delete;
  Ticket submit(std::function<void()> task);
  void run(std::function<void()> task) { submit(std::move(task)).wait(); }

 private:
  void loop();
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::packaged_task<void()>> tasks_;
  bool stop_ = false;
  std::thread worker_;
};

// Calls ready(i) after the AccumulateGrad of params[i] has run in a backward pass. Keeps the
// accumulator nodes alive (a parameter's node is otherwise rebuilt when it has none left).
class GradReadyHooks {
 public:
  GradReadyHooks(const std::vector<torch::Tensor>& params, std::function<void(size_t)> ready);

 private:
  std::vector<std::shared_ptr<torch::autograd::Node>> accumulators_;
};

// From one step's Chrome trace events (trace.hpp): the seconds of DP communication (track 2) and
// how many of them fall while a backward pass runs on the compute track (0).
std::pair<double, double> dp_overlap_seconds(const nlohmann::json& events);

}  // namespace parplan::runtime
