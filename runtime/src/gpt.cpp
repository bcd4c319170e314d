// The GPT (nanoGPT model.py, in LibTorch) built from the tensor-parallel layers.
#include "gpt.hpp"

#include <cmath>

namespace parplan::runtime {

torch::Tensor init_normal(uint64_t seed, const std::string& name, at::IntArrayRef shape, double std) {
  uint64_t h = 1469598103934665603ULL ^ seed;  // FNV-1a of (seed, name): stable across ranks
  for (unsigned char c : name) h = (h ^ c) * 1099511628211ULL;
  auto gen = at::detail::createCPUGenerator(h);
  return torch::randn(shape, gen, torch::kFloat32) * std;
}

CausalSelfAttentionImpl::CausalSelfAttentionImpl(const GptConfig& c, Group* tp,
                                                 const std::string& name)
    : heads_local(c.heads / tp->size()), head_dim(c.hidden / c.heads) {
  q = register_module("q", ColumnParallelLinear(c.hidden, c.hidden, tp, c.seed, name + ".q", 0.02));
  k = register_module("k", ColumnParallelLinear(c.hidden, c.hidden, tp, c.seed, name + ".k", 0.02));
  v = register_module("v", ColumnParallelLinear(c.hidden, c.hidden, tp, c.seed, name + ".v", 0.02));
  // nanoGPT: residual projections get std 0.02 / sqrt(2 * n_layer).
  proj = register_module("proj", RowParallelLinear(c.hidden, c.hidden, tp, c.seed, name + ".proj",
                                                   0.02 / std::sqrt(2.0 * double(c.layers))));
}

torch::Tensor CausalSelfAttentionImpl::forward(const torch::Tensor& x) {
  auto B = x.size(0), T = x.size(1);
  auto split = [&](const torch::Tensor& t) {
    return t.view({B, T, heads_local, head_dim}).transpose(1, 2);  // [B, h, T, d]
  };
  // One copy_to_tp for Q, K and V: one backward all-reduce per attention block, not three.
  auto xc = tp::copy_to_tp(x, q->tp);
  auto qh = split(q->forward_copied(xc)), kh = split(k->forward_copied(xc)), vh = split(v->forward_copied(xc));
  auto att = torch::matmul(qh, kh.transpose(-2, -1)) * (1.0 / std::sqrt(double(head_dim)));
  auto mask = torch::ones({T, T}, torch::TensorOptions().dtype(torch::kBool).device(x.device())).triu(1);
  att = att.masked_fill(mask, -std::numeric_limits<float>::infinity()).softmax(-1);
  auto y = torch::matmul(att, vh).transpose(1, 2).contiguous().view({B, T, heads_local * head_dim});
  return proj(y);
}

MlpImpl::MlpImpl(const GptConfig& c, Group* tp, const std::string& name) {
  fc = register_module("fc", ColumnParallelLinear(c.hidden, c.ffn_hidden, tp, c.seed, name + ".fc", 0.02));
  proj = register_module("proj", RowParallelLinear(c.ffn_hidden, c.hidden, tp, c.seed, name + ".proj",
                                                   0.02 / std::sqrt(2.0 * double(c.layers))));
}

torch::Tensor MlpImpl::forward(const torch::Tensor& x) {
  return proj(torch::gelu(fc(x)));
}

BlockImpl::BlockImpl(const GptConfig& c, Group* tp, const std::string& name) {
  ln_1 = register_module("ln_1", torch::nn::LayerNorm(torch::nn::LayerNormOptions({c.hidden})));
  attn = register_module("attn", CausalSelfAttention(c, tp, name + ".attn"));
  ln_2 = register_module("ln_2", torch::nn::LayerNorm(torch::nn::LayerNormOptions({c.hidden})));
  mlp = register_module("mlp", Mlp(c, tp, name + ".mlp"));
}

torch::Tensor BlockImpl::forward(torch::Tensor x) {
  x = x + attn(ln_1(x));
  return x + mlp(ln_2(x));
}

GptStageImpl::GptStageImpl(const GptConfig& c, Group* tp) : cfg(c) {
  torch::NoGradGuard no_grad;
  if (c.has_embedding) {
    wte = register_module("wte", torch::nn::Embedding(c.vocab, c.hidden));
    wpe = register_module("wpe", torch::nn::Embedding(c.block_size, c.hidden));
    wte->weight.copy_(init_normal(c.seed, "wte", {c.vocab, c.hidden}, 0.02));
    wpe->weight.copy_(init_normal(c.seed, "wpe", {c.block_size, c.hidden}, 0.02));
  }
  blocks = register_module("blocks", torch::nn::ModuleList());
  for (auto l = c.first_layer; l < c.last_layer; ++l)
    blocks->push_back(Block(c, tp, "h." + std::to_string(l)));
  if (c.has_head) {
    ln_f = register_module("ln_f", torch::nn::LayerNorm(torch::nn::LayerNormOptions({c.hidden})));
    if (!c.tied)
      head_weight = register_parameter("head", init_normal(c.seed, "head", {c.vocab, c.hidden}, 0.02));
  }
}

torch::Tensor GptStageImpl::forward(const torch::Tensor& input) {
  torch::Tensor x = input;
  auto before = [&](int seg) { if (hooks) hooks->before_forward(seg); };
  auto after = [&](int seg) { if (hooks) x = hooks->after_forward(seg, x); };
  if (cfg.has_embedding) {
    before(0);
    auto pos = torch::arange(input.size(1), torch::TensorOptions().dtype(torch::kLong).device(input.device()));
    x = wte(input) + wpe(pos);
    after(0);
  }
  int seg = 1;
  for (auto& b : *blocks) {
    before(seg);
    x = b->as<Block>()->forward(x);
    after(seg++);
  }
  if (cfg.has_head) {
    before(seg);
    x = ln_f(x);
    x = torch::matmul(x, (cfg.tied ? wte->weight : head_weight).t());
    after(seg);
  }
  return x;
}

torch::Tensor lm_loss(const torch::Tensor& logits, const torch::Tensor& targets) {
  return torch::nn::functional::cross_entropy(logits.reshape({-1, logits.size(-1)}),
                                              targets.reshape({-1}));
}

}  // namespace parplan::runtime
