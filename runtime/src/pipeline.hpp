#pragma once
// Pipeline parallelism: this rank's model chunks run a schedule (schedule.hpp: GPipe, 1F1B,
// interleaved 1F1B, ZB-H1, DualPipeV) over micro-batches, receiving activations from the previous
// virtual stage and gradients from the next with p2p send/recv. Virtual stage c * pp + r is chunk
// c of pipeline rank r (the last rank's chunk c feeds chunk c + 1 of rank 0), or under DualPipeV
// the V: chunk 0 of rank r is stage r, chunk 1 stage 2 pp - 1 - r (the last rank hands its chunk
// 0's output to its chunk 1 locally, and the loss is on rank 0). Activations and gradients travel
// on separate groups when a rank holds several chunks (between two ranks both flow the same way
// then, and each group's p2p stream must be received in the order it was sent).
// Zero-bubble ops split the backward: B computes the input gradient only (autograd restricted to
// the stage's input, the graph kept), W later the weight gradients (autograd restricted to the
// chunk's parameters). W runs the activation-gradient chain of the chunk again, so a split
// backward costs more compute here than a fused one (a kernel-level split, as the reference's
// WeightGradStore, would not): the executor is exact, not fast.
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
  // placement: the schedule whose chunk placement this rank's chunks follow (DualPipeV: the V;
  // any other: c * pp + r).
  PipelineStage(std::vector<GptStage> chunks, Group* pp, int64_t hidden, TraceRecorder* trace,
                Group* pp_grad = nullptr, PipeSchedule placement = PipeSchedule::OneFOneB);

  // One training step's forward and backward passes. Returns the sum over the micro-batches of
  // loss / m (last stage; 0 elsewhere). Gradients accumulate in the parameters' .grad.
  double train(const std::vector<MicroBatch>& mbs, PipeSchedule s);
  // Forward only (evaluation): mean loss on the last stage, 0 elsewhere.
  double evaluate(const std::vector<MicroBatch>& mbs);
  // Forward only, logits at position `pos` of this rank's tokens [1, T] (last stage; else
  // undefined).
  torch::Tensor logits_at(const torch::Tensor& tokens, int64_t pos);

  // Per (chunk, micro-batch) hooks: after_backward lets the chunk's optimizers reduce (after the
  // weight gradient: a full backward, or a split backward's W).
  std::function<void(int chunk, int mb)> before_forward, after_backward;
  double forward_s = 0, backward_s = 0;  // time spent in the last train() (p2p waits included)

 private:
  struct Saved {
    torch::Tensor input, output;  // output: the loss on the last stage
    torch::Tensor output_grad;    // a split backward's received gradient, for its W
  };
  using Key = std::pair<int, int>;  // (chunk, micro-batch)
  int stage_of(int chunk) const { return virtual_stage(placement_, pp_->size(), pp_->rank(), chunk); }
  int stages() const { return pp_->size() * int(chunks_.size()); }
  bool first_stage(int chunk) const { return stage_of(chunk) == 0; }
  bool last_stage(int chunk) const { return stage_of(chunk) == stages() - 1; }
  StageHolder holder(int stage) const {
    return stage_holder(placement_, pp_->size(), int(chunks_.size()), stage);
  }
  torch::Tensor activation_buffer(int chunk, const MicroBatch& mb) const;
  // The input of `chunk` for micro-batch i: received from the previous stage, or handed over on
  // this rank; out: sent to the next stage or handed over.
  torch::Tensor receive_activation(int chunk, const MicroBatch& mb, int i);
  void pass_activation(int chunk, const torch::Tensor& out, int i, bool wait);
  Saved forward(int chunk, const MicroBatch& mb, int i, int m);
  void backward(int chunk, Saved& s, int i, bool split);
  void weight(int chunk, Saved& s, int i);
  void wait_sends();
  void traced(const char* what, int chunk, int i, Clock::time_point t0);

  std::vector<GptStage> chunks_;
  Group* pp_;
  Group* grad_;
  int64_t hidden_;
  TraceRecorder* trace_;
  PipeSchedule placement_;
  bool last_;  // this rank holds the last stage (the loss)
  std::vector<Pending> sends_;
  std::map<Key, torch::Tensor> local_act_, local_grad_;  // hand-overs between this rank's chunks
};

}  // namespace parplan::runtime
