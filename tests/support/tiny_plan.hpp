#pragma once
// The tiny character GPTs the runtime and CLI tests run or refuse, on the CPU host cluster in fp32.
#include <string>

#include "parplan/model/io.hpp"
#include "parplan/model/plan.hpp"

namespace parplan::test {

// A character GPT for Tiny Shakespeare (65 symbols): multi-head attention, untied embeddings.
inline Model char_gpt(const std::string& name, int64_t layers, int64_t hidden, int64_t heads,
                      int64_t ffn_hidden, int64_t max_seq_len) {
  Model m;
  m.name = name;
  m.layers = layers;
  m.hidden = hidden;
  m.heads = heads;
  m.kv_heads = heads;
  m.ffn_hidden = ffn_hidden;
  m.vocab = 65;
  m.max_seq_len = max_seq_len;
  m.tied_embeddings = false;
  return m;
}

// `model` trained on the CPU host cluster in fp32 at a learning rate of 1e-3.
inline Plan char_plan(const Model& model, int64_t global_batch, int64_t seq_len,
                      const Layout& layout) {
  Plan p;
  p.model = model;
  p.cluster = load_cluster("cpu-host");
  p.training.global_batch = global_batch;
  p.training.seq_len = seq_len;
  p.training.dtype = DType::FP32;
  p.training.learning_rate = 1e-3;
  p.layout = layout;
  return p;
}

// 2 layers, hidden 32; global batch 4 x 16 tokens, micro-batch 2.
inline Plan tiny_char_plan(int heads = 2, int dp = 1) {
  return char_plan(char_gpt("tiny-char", 2, 32, heads, 64, 32), 4, 16,
                   {.dp = dp, .micro_batch = 2, .recompute = Recompute::None,
                    .sequence_parallel = false});
}

}  // namespace parplan::test
