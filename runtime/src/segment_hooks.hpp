#pragma once
// Called around each segment of a GPT stage's forward pass: 0 is the embeddings, 1..n the blocks,
// n + 1 the final LayerNorm and head (segments a stage does not hold are not called). ZeRO-3
// gathers a layer's parameters before it runs and frees them after; after() may wrap the output
// in an autograd node whose backward runs just before the segment's backward.
#include <torch/torch.h>

namespace parplan::runtime {

struct SegmentHooks {
  virtual ~SegmentHooks() = default;
  virtual void before_forward(int segment) = 0;
  virtual torch::Tensor after_forward(int segment, torch::Tensor out) = 0;
};

}  // namespace parplan::runtime
