#pragma once
// Pipeline parallelism: a stage of the GPT runs a schedule over micro-batches, receiving
// activations from the previous stage and gradients from the next with p2p send/recv.
//   GPipe (Huang et al. 2019): all forwards, then all backwards.
//   1F1B (Narayanan et al. 2021, PipeDream-Flush): p - stage - 1 warm-up forwards, then one
//   forward / one backward alternately, then the remaining backwards.
// Sends are asynchronous (waited at the end of the step); receives block with the timeout.
#include <functional>
#include <vector>

#include <torch/torch.h>

#include "comm.hpp"
#include "gpt.hpp"
#include "trace.hpp"

namespace parplan::runtime {

struct MicroBatch {
  torch::Tensor x, y;  // token ids and targets, [mb, T]
};

enum class PipeSchedule { GPipe, OneFOneB };

class PipelineStage {
 public:
  PipelineStage(GptStage model, Group* pp, int64_t hidden, TraceRecorder* trace);

  // One training step's forward and backward passes. Returns the mean loss over the
  // micro-batches (last stage; 0 elsewhere). Gradients accumulate in the parameters' .grad.
  double train(const std::vector<MicroBatch>& mbs, PipeSchedule s);
  // Forward only (evaluation): mean loss on the last stage, 0 elsewhere.
  double evaluate(const std::vector<MicroBatch>& mbs);
  // Forward only, logits at position `pos` of a single sequence [1, T] (last stage; else empty).
  torch::Tensor logits_at(const torch::Tensor& tokens, int64_t pos);

  std::function<void(int)> before_forward, after_backward;  // per micro-batch hooks (ZeRO-3)
  double forward_s = 0, backward_s = 0;  // time spent in the last train() (p2p waits included)

 private:
  struct Saved {
    torch::Tensor input, output;  // output: the loss on the last stage
  };
  Saved forward(const MicroBatch& mb, int i, int m);
  void backward(Saved& s, int i);
  void wait_sends();

  GptStage model_;
  Group* pp_;
  int64_t hidden_;
  TraceRecorder* trace_;
  bool first_, last_;
  std::vector<Pending> sends_;
};

}  // namespace parplan::runtime
