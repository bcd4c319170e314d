#pragma once
// The tiny character GPT the runtime and CLI tests run or refuse: 2 layers, hidden 32, on the
// CPU host cluster, fp32, global batch 4 x 16 tokens, micro-batch 2.
#include "parplan/model/io.hpp"
#include "parplan/model/plan.hpp"

namespace parplan::test {

inline Plan tiny_char_plan(int heads = 2, int dp = 1) {
  Plan p;
  p.model.name = "tiny-char";
  p.model.layers = 2;
  p.model.hidden = 32;
  p.model.heads = heads;
  p.model.kv_heads = heads;
  p.model.ffn_hidden = 64;
  p.model.vocab = 65;
  p.model.max_seq_len = 32;
  p.model.tied_embeddings = false;
  p.cluster = load_cluster("cpu-host");
  p.training.global_batch = 4;
  p.training.seq_len = 16;
  p.training.dtype = DType::FP32;
  p.training.learning_rate = 1e-3;
  p.layout.dp = dp;
  p.layout.micro_batch = 2;
  p.layout.recompute = Recompute::None;
  p.layout.sequence_parallel = false;
  return p;
}

}  // namespace parplan::test
