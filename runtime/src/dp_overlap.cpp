// The DP communication thread and the gradient-ready hooks.
#include "dp_overlap.hpp"

#include <chrono>

#include <torch/csrc/autograd/function.h>
#include <torch/csrc/autograd/function_hook.h>
#include <torch/csrc/autograd/variable.h>

namespace parplan::runtime {

void Ticket::wait() {
  if (!f_.valid()) return;
  auto f = std::move(f_);
  f_ = {};
  f.get();
}

bool Ticket::done() const {
  return !f_.valid() || f_.wait_for(std::chrono::seconds(0)) == std::future_status::ready;
}

CommQueue::CommQueue() : worker_([this] { loop(); }) {}

CommQueue::~CommQueue() {
  {
    std::lock_guard<std::mutex> l(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  worker_.join();
}

Ticket CommQueue::submit(std::function<void()> task) {
  std::packaged_task<void()> t(std::move(task));
  Ticket ticket(t.get_future().share());
  {
    std::lock_guard<std::mutex> l(mu_);
    tasks_.push_back(std::move(t));
  }
  cv_.notify_one();
  return ticket;
}

void CommQueue::loop() {
  // Collectives on this thread move data only; the grad mode of the compute thread does not apply.
  torch::NoGradGuard no_grad;
  for (;;) {
    std::packaged_task<void()> t;
    {
      std::unique_lock<std::mutex> l(mu_);
      cv_.wait(l, [&] { return stop_ || !tasks_.empty(); });
      if (tasks_.empty()) return;  // stop_ and drained
      t = std::move(tasks_.front());
      tasks_.pop_front();
    }
    t();  // exceptions are stored in the future
  }
}

namespace {
struct ReadyHook : torch::autograd::FunctionPostHook {
  std::function<void()> f;
  explicit ReadyHook(std::function<void()> fn) : f(std::move(fn)) {}
  torch::autograd::variable_list operator()(const torch::autograd::variable_list& outputs,
                                            const torch::autograd::variable_list&) override {
    f();
    return outputs;
  }
};
}  // namespace

GradReadyHooks::GradReadyHooks(const std::vector<torch::Tensor>& params,
                               std::function<void(size_t)> ready) {
  auto shared = std::make_shared<std::function<void(size_t)>>(std::move(ready));
  for (size_t i = 0; i < params.size(); ++i) {
    auto acc = torch::autograd::impl::grad_accumulator(params[i]);
    acc->add_post_hook(std::make_unique<ReadyHook>([shared, i] { (*shared)(i); }));
    accumulators_.push_back(std::move(acc));
  }
}

std::pair<double, double> dp_overlap_seconds(const nlohmann::json& events) {
  std::vector<std::pair<double, double>> backward;
  for (auto& e : events)
    if (e.value("tid", -1) == 0 && e.value("name", "").rfind("backward", 0) == 0)
      backward.emplace_back(e["ts"].get<double>(), e["ts"].get<double>() + e["dur"].get<double>());
  double total = 0, hidden = 0;
  for (auto& e : events) {
    if (e.value("tid", -1) != 2) continue;
    double b = e["ts"].get<double>(), d = e["dur"].get<double>();
    total += d;
    for (auto& [s, f] : backward) hidden += std::max(0.0, std::min(f, b + d) - std::max(s, b));
  }
  return {total * 1e-6, hidden * 1e-6};  // trace times are microseconds
}

}  // namespace parplan::runtime
