// The pipeline executor: runs a schedule's ops over p2p send/recv.
#include "pipeline.hpp"

#include "device.hpp"

namespace parplan::runtime {

PipelineStage::PipelineStage(std::vector<GptStage> chunks, Group* pp, int64_t hidden,
                             TraceRecorder* trace, Group* pp_grad)
    : chunks_(std::move(chunks)), pp_(pp), grad_(pp_grad ? pp_grad : pp), hidden_(hidden),
      trace_(trace), last_(pp->rank() == pp->size() - 1) {}

torch::Tensor PipelineStage::activation_buffer(int chunk, const MicroBatch& mb) const {
  return torch::empty({mb.x.size(0), mb.x.size(1) / chunks_[size_t(chunk)]->seq_shards(), hidden_},
                      device_options());
}

PipelineStage::Saved PipelineStage::forward(int chunk, const MicroBatch& mb, int i, int m) {
  auto t0 = Clock::now();
  if (before_forward) before_forward(chunk, i);
  Saved s;
  if (first_stage(chunk)) {
    s.input = mb.x;
  } else {
    s.input = activation_buffer(chunk, mb);
    pp_->recv(s.input, prev());
    s.input.requires_grad_(torch::GradMode::is_enabled());
  }
  auto out = chunks_[size_t(chunk)]->forward(s.input);
  if (last_stage(chunk)) {
    s.output = lm_loss(out, mb.y) / double(m);
  } else {
    auto act = out.detach().contiguous();
    sends_.push_back(pp_->send(act, next()));
    s.output = out;
  }
  forward_s += seconds_since(t0);
  if (trace_)
    trace_->add("forward " + std::string(chunks_.size() > 1 ? "c" + std::to_string(chunk) + " " : "") +
                    "mb" + std::to_string(i), "compute", t0, Clock::now());
  return s;
}

void PipelineStage::backward(int chunk, Saved& s, int i) {
  auto t0 = Clock::now();
  if (last_stage(chunk)) {
    s.output.backward();
  } else {
    auto g = torch::empty_like(s.output);
    grad_->recv(g, next());
    s.output.backward(g);
  }
  if (!first_stage(chunk)) sends_.push_back(grad_->send(s.input.grad().contiguous(), prev()));
  if (after_backward) after_backward(chunk, i);
  s = Saved{};
  backward_s += seconds_since(t0);
  if (trace_)
    trace_->add("backward " + std::string(chunks_.size() > 1 ? "c" + std::to_string(chunk) + " " : "") +
                    "mb" + std::to_string(i), "compute", t0, Clock::now());
}

void PipelineStage::wait_sends() {
  for (auto& s : sends_) s.wait();
  sends_.clear();
}

double PipelineStage::train(const std::vector<MicroBatch>& mbs, PipeSchedule sched) {
  forward_s = backward_s = 0;
  const int m = int(mbs.size()), v = int(chunks_.size());
  std::map<std::pair<int, int>, Saved> saved;  // (chunk, micro-batch)
  double loss = 0;
  for (const auto& op : pipeline_ops(sched, pp_->size(), pp_->rank(), m, v)) {
    const auto key = std::make_pair(op.chunk, op.microbatch);
    const auto& mb = mbs[size_t(op.microbatch)];
    if (op.forward) {
      auto s = forward(op.chunk, mb, op.microbatch, m);
      if (last_stage(op.chunk)) loss += s.output.item<double>();
      saved[key] = std::move(s);
    } else {
      backward(op.chunk, saved[key], op.microbatch);
      saved.erase(key);
    }
  }
  wait_sends();
  return loss;
}

double PipelineStage::evaluate(const std::vector<MicroBatch>& mbs) {
  torch::NoGradGuard g;
  double loss = 0;
  const int m = int(mbs.size());
  for (int i = 0; i < m; ++i)
    for (int c = 0; c < int(chunks_.size()); ++c) {
      auto s = forward(c, mbs[size_t(i)], i, m);
      if (last_stage(c)) loss += s.output.item<double>();
    }
  wait_sends();
  return loss;
}

torch::Tensor PipelineStage::logits_at(const torch::Tensor& tokens, int64_t pos) {
  torch::NoGradGuard g;
  MicroBatch mb{tokens, {}};
  torch::Tensor out;
  for (int c = 0; c < int(chunks_.size()); ++c) {
    torch::Tensor input = tokens;
    if (!first_stage(c)) {
      input = activation_buffer(c, mb);
      pp_->recv(input, prev());
    }
    out = chunks_[size_t(c)]->forward(input);
    if (!last_stage(c)) pp_->send(out.contiguous(), next()).wait();
  }
  if (!last_) return {};
  return out.select(0, 0).select(0, pos);
}

}  // namespace parplan::runtime
