// GPipe and 1F1B schedules over p2p send/recv.
#include "pipeline.hpp"

#include "device.hpp"

namespace parplan::runtime {

PipelineStage::PipelineStage(GptStage model, Group* pp, int64_t hidden, TraceRecorder* trace)
    : model_(std::move(model)), pp_(pp), hidden_(hidden), trace_(trace),
      first_(pp->rank() == 0), last_(pp->rank() == pp->size() - 1) {}

PipelineStage::Saved PipelineStage::forward(const MicroBatch& mb, int i, int m) {
  auto t0 = Clock::now();
  if (before_forward) before_forward(i);
  Saved s;
  if (first_) {
    s.input = mb.x;
  } else {
    s.input = torch::empty({mb.x.size(0), mb.x.size(1), hidden_}, device_options());
    pp_->recv(s.input, pp_->rank() - 1);
    s.input.requires_grad_(torch::GradMode::is_enabled());
  }
  auto out = model_->forward(s.input);
  if (last_) {
    s.output = lm_loss(out, mb.y) / double(m);
  } else {
    auto act = out.detach().contiguous();
    sends_.push_back(pp_->send(act, pp_->rank() + 1));
    s.output = out;
  }
  forward_s += seconds_since(t0);
  if (trace_) trace_->add("forward mb" + std::to_string(i), "compute", t0, Clock::now());
  return s;
}

void PipelineStage::backward(Saved& s, int i) {
  auto t0 = Clock::now();
  if (last_) {
    s.output.backward();
  } else {
    auto g = torch::empty_like(s.output);
    pp_->recv(g, pp_->rank() + 1);
    s.output.backward(g);
  }
  if (!first_) sends_.push_back(pp_->send(s.input.grad().contiguous(), pp_->rank() - 1));
  if (after_backward) after_backward(i);
  s = Saved{};
  backward_s += seconds_since(t0);
  if (trace_) trace_->add("backward mb" + std::to_string(i), "compute", t0, Clock::now());
}

void PipelineStage::wait_sends() {
  for (auto& s : sends_) s.wait();
  sends_.clear();
}

double PipelineStage::train(const std::vector<MicroBatch>& mbs, PipeSchedule sched) {
  forward_s = backward_s = 0;
  int m = int(mbs.size());
  std::vector<Saved> saved(mbs.size());
  double loss = 0;
  auto fwd = [&](int i) {
    saved[size_t(i)] = forward(mbs[size_t(i)], i, m);
    if (last_) loss += saved[size_t(i)].output.item<double>();
  };
  auto bwd = [&](int i) { backward(saved[size_t(i)], i); };
  if (sched == PipeSchedule::GPipe || pp_->size() == 1) {
    if (pp_->size() == 1) {
      for (int i = 0; i < m; ++i) {  // no pipeline: forward and backward each micro-batch
        fwd(i);
        bwd(i);
      }
    } else {
      for (int i = 0; i < m; ++i) fwd(i);
      for (int i = 0; i < m; ++i) bwd(i);
    }
  } else {
    int warmup = std::min(pp_->size() - pp_->rank() - 1, m);
    for (int i = 0; i < warmup; ++i) fwd(i);
    for (int i = warmup; i < m; ++i) {
      fwd(i);
      bwd(i - warmup);
    }
    for (int i = m - warmup; i < m; ++i) bwd(i);
  }
  wait_sends();
  return loss;
}

double PipelineStage::evaluate(const std::vector<MicroBatch>& mbs) {
  torch::NoGradGuard g;
  double loss = 0;
  int m = int(mbs.size());
  for (int i = 0; i < m; ++i) {
    auto s = forward(mbs[size_t(i)], i, m);
    if (last_) loss += s.output.item<double>();
  }
  wait_sends();
  return loss;
}

torch::Tensor PipelineStage::logits_at(const torch::Tensor& tokens, int64_t pos) {
  torch::NoGradGuard g;
  torch::Tensor input = tokens;
  if (!first_) {
    input = torch::empty({1, tokens.size(1), hidden_}, device_options());
    pp_->recv(input, pp_->rank() - 1);
  }
  auto out = model_->forward(input);
  if (!last_) {
    pp_->send(out.contiguous(), pp_->rank() + 1).wait();
    return {};
  }
  return out.select(0, 0).select(0, pos);
}

}  // namespace parplan::runtime
