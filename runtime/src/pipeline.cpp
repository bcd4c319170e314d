// The pipeline executor: runs a schedule's ops over p2p send/recv.
#include "pipeline.hpp"

#include "device.hpp"
#include "parplan/model/error.hpp"

namespace parplan::runtime {

PipelineStage::PipelineStage(std::vector<GptStage> chunks, Group* pp, int64_t hidden,
                             TraceRecorder* trace, Group* pp_grad, PipeSchedule placement)
    : chunks_(std::move(chunks)), pp_(pp), grad_(pp_grad ? pp_grad : pp), hidden_(hidden),
      trace_(trace), placement_(placement) {
  last_ = holder(stages() - 1).rank == pp_->rank();
}

torch::Tensor PipelineStage::activation_buffer(int chunk, const MicroBatch& mb) const {
  return torch::empty({mb.x.size(0), mb.x.size(1) / chunks_[size_t(chunk)]->seq_shards(), hidden_},
                      device_options());
}

torch::Tensor PipelineStage::receive_activation(int chunk, const MicroBatch& mb, int i) {
  const auto from = holder(stage_of(chunk) - 1);
  torch::Tensor input;
  if (from.rank == pp_->rank()) {
    auto it = local_act_.find({chunk, i});
    if (it == local_act_.end())
      throw Error("pipeline: chunk " + std::to_string(chunk) + " micro-batch " + std::to_string(i) +
                  " runs before the chunk that feeds it on this rank (schedule bug)");
    input = it->second;
    local_act_.erase(it);
  } else {
    input = activation_buffer(chunk, mb);
    pp_->recv(input, from.rank);
  }
  return input;
}

void PipelineStage::pass_activation(int chunk, const torch::Tensor& out, int i, bool wait) {
  const auto to = holder(stage_of(chunk) + 1);
  auto act = out.detach().contiguous();
  if (to.rank == pp_->rank()) {
    local_act_[{to.chunk, i}] = act;
  } else if (wait) {
    pp_->send(act, to.rank).wait();
  } else {
    sends_.push_back(pp_->send(act, to.rank));
  }
}

void PipelineStage::traced(const char* what, int chunk, int i, Clock::time_point t0) {
  if (trace_)
    trace_->add(std::string(what) + " " +
                    (chunks_.size() > 1 ? "c" + std::to_string(chunk) + " " : "") + "mb" + std::to_string(i),
                "compute", t0, Clock::now());
}

PipelineStage::Saved PipelineStage::forward(int chunk, const MicroBatch& mb, int i, int m) {
  auto t0 = Clock::now();
  if (before_forward) before_forward(chunk, i);
  Saved s;
  if (first_stage(chunk)) {
    s.input = mb.x;
  } else {
    s.input = receive_activation(chunk, mb, i);
    s.input.requires_grad_(torch::GradMode::is_enabled());
  }
  auto out = chunks_[size_t(chunk)]->forward(s.input);
  if (last_stage(chunk)) {
    s.output = lm_loss(out, mb.y) / double(m);
  } else {
    pass_activation(chunk, out, i, false);
    s.output = out;
  }
  forward_s += seconds_since(t0);
  traced("forward", chunk, i, t0);
  return s;
}

void PipelineStage::backward(int chunk, Saved& s, int i, bool split) {
  auto t0 = Clock::now();
  torch::Tensor g;  // the gradient of the stage's output (undefined on the last stage: the loss)
  if (!last_stage(chunk)) {
    const auto from = holder(stage_of(chunk) + 1);
    if (from.rank == pp_->rank()) {
      auto it = local_grad_.find({chunk, i});
      if (it == local_grad_.end())
        throw Error("pipeline: the backward of chunk " + std::to_string(chunk) + " micro-batch " +
                    std::to_string(i) + " runs before the chunk after it on this rank (schedule bug)");
      g = it->second;
      local_grad_.erase(it);
    } else {
      g = torch::empty_like(s.output);
      grad_->recv(g, from.rank);
    }
  }
  torch::Tensor input_grad;
  if (!split) {
    if (g.defined()) s.output.backward(g);
    else s.output.backward();
    if (!first_stage(chunk)) input_grad = s.input.grad();
  } else {
    // B: the input gradient only; the graph is kept for W.
    if (!first_stage(chunk)) {
      torch::autograd::variable_list go;
      if (g.defined()) go.push_back(g);
      input_grad = torch::autograd::grad({s.output}, {s.input}, go, /*retain_graph=*/true)[0];
    }
    s.output_grad = g;
  }
  if (!first_stage(chunk)) {
    const auto to = holder(stage_of(chunk) - 1);
    auto ig = input_grad.contiguous();
    if (to.rank == pp_->rank()) local_grad_[{to.chunk, i}] = ig;
    else sends_.push_back(grad_->send(ig, to.rank));
  }
  if (!split) {
    if (after_backward) after_backward(chunk, i);
    s = Saved{};
  }
  backward_s += seconds_since(t0);
  traced(split ? "backward (input)" : "backward", chunk, i, t0);
}

void PipelineStage::weight(int chunk, Saved& s, int i) {
  auto t0 = Clock::now();
  // W: the weight gradients, autograd restricted to this chunk's parameters (they accumulate in
  // .grad as a full backward's would; the DP hooks fire here).
  torch::autograd::variable_list params;
  for (auto& p : chunks_[size_t(chunk)]->parameters())
    if (p.requires_grad()) params.push_back(p);
  torch::autograd::variable_list go;
  if (s.output_grad.defined()) go.push_back(s.output_grad);
  torch::autograd::backward({s.output}, go, /*retain_graph=*/false, /*create_graph=*/false, params);
  if (after_backward) after_backward(chunk, i);
  s = Saved{};
  backward_s += seconds_since(t0);
  traced("backward (weights)", chunk, i, t0);
}

void PipelineStage::wait_sends() {
  for (auto& s : sends_) s.wait();
  sends_.clear();
}

double PipelineStage::train(const std::vector<MicroBatch>& mbs, PipeSchedule sched) {
  forward_s = backward_s = 0;
  const int m = int(mbs.size()), v = int(chunks_.size());
  std::map<Key, Saved> saved;
  double loss = 0;
  for (const auto& op : pipeline_ops(sched, pp_->size(), pp_->rank(), m, v)) {
    const auto key = std::make_pair(op.chunk, op.microbatch);
    const auto& mb = mbs[size_t(op.microbatch)];
    if (op.forward) {
      auto s = forward(op.chunk, mb, op.microbatch, m);
      if (last_stage(op.chunk)) loss += s.output.item<double>();
      saved[key] = std::move(s);
    } else if (op.weight) {
      weight(op.chunk, saved.at(key), op.microbatch);
      saved.erase(key);
    } else {
      backward(op.chunk, saved.at(key), op.microbatch, op.split);
      if (!op.split) saved.erase(key);
    }
  }
  wait_sends();
  local_act_.clear(), local_grad_.clear();
  return loss;
}

double PipelineStage::evaluate(const std::vector<MicroBatch>& mbs) {
  torch::NoGradGuard g;
  double loss = 0;
  const int m = int(mbs.size());
  // Each micro-batch through this rank's chunks in stage order (under DualPipeV chunk 1 of the
  // last rank follows its chunk 0 locally; on the others it waits for the stages in between).
  for (int i = 0; i < m; ++i)
    for (int c = 0; c < int(chunks_.size()); ++c) {
      auto s = forward(c, mbs[size_t(i)], i, m);
      if (last_stage(c)) loss += s.output.item<double>();
    }
  wait_sends();
  local_act_.clear();
  return loss;
}

torch::Tensor PipelineStage::logits_at(const torch::Tensor& tokens, int64_t pos) {
  torch::NoGradGuard g;
  MicroBatch mb{tokens, {}};
  torch::Tensor out;
  for (int c = 0; c < int(chunks_.size()); ++c) {
    torch::Tensor input = first_stage(c) ? tokens : receive_activation(c, mb, 0);
    auto y = chunks_[size_t(c)]->forward(input);
    if (last_stage(c)) out = y;
    else pass_activation(c, y, 0, true);
  }
  local_act_.clear();
  if (!last_) return {};
  return out.select(0, 0).select(0, pos);
}

}  // namespace parplan::runtime
