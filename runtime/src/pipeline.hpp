#pragma once
// Pipeline parallelism: this rank's model chunks run a schedule (schedule.hpp: GPipe, 1F1B,
// interleaved 1F1B) over micro-batches, receiving activations from the previous virtual stage
// and gradients from the next with p2p send/recv. Virtual stage c * pp + r is chunk c of
// pipeline rank r, so the last rank's chunk c feeds chunk c + 1 of rank 0. Activations and
// gradients travel on separate groups when interleaved (between two ranks both flow the same
// way then, and each group's p2p stream must be received in the order it was sent).
// Sends are asynchronous (waited at the end of the step); receives block with the timeout.
#include <functional>
#include <map>
#include <vector>

#include <torch/torch.h>

#include "comm.hpp"
#include "gpt.hpp"
#include "schedule.hpp"
#include "trace.hpp"

namespace parplan::runtime {

struct MicroBatch {
  torch::Tensor x, y;  // token ids and targets, [mb, T] (this CP rank's tokens under CP)
};

class PipelineStage {
 public:
  // chunks: this rank's model chunks in virtual-stage order (one unless interleaved). pp_grad:
  // the group gradients travel on (pp itself when null).
  PipelineStage(std::vector<GptStage> chunks, Group* pp, int64_t hidden, TraceRecorder* trace,
                Group* pp_grad = nullptr);

  // One training step's forward and backward passes. Returns the sum over the micro-batches of
  // loss / m (last stage; 0 elsewhere). Gradients accumulate in the parameters' .grad.
  double train(const std::vector<MicroBatch>& mbs, PipeSchedule s);
  // Forward only (evaluation): mean loss on the last stage, 0 elsewhere.
  double evaluate(const std::vector<MicroBatch>& mbs);
  // Forward only, logits at position `pos` of this rank's tokens [1, T] (last stage; else
  // undefined).
  torch::Tensor logits_at(const torch::Tensor& tokens, int64_t pos);

  // Per (chunk, micro-batch) hooks: after_backward lets the chunk's optimizers reduce.
  std::function<void(int chunk, int mb)> before_forward, after_backward;
  double forward_s = 0, backward_s = 0;  // time spent in the last train() (p2p waits included)

 private:
  struct Saved {
    torch::Tensor input, output;  // output: the loss on the last stage
  };
  bool first_stage(int chunk) const { return chunk == 0 && pp_->rank() == 0; }
  bool last_stage(int chunk) const { return chunk == int(chunks_.size()) - 1 && last_; }
  int next() const { return (pp_->rank() + 1) % pp_->size(); }
  int prev() const { return (pp_->rank() + pp_->size() - 1) % pp_->size(); }
  torch::Tensor activation_buffer(int chunk, const MicroBatch& mb) const;
  Saved forward(int chunk, const MicroBatch& mb, int i, int m);
  void backward(int chunk, Saved& s, int i);
  void wait_sends();

  std::vector<GptStage> chunks_;
  Group* pp_;
  Group* grad_;
  int64_t hidden_;
  TraceRecorder* trace_;
  bool last_;
  std::vector<Pending> sends_;
};

}  // namespace parplan::runtime
