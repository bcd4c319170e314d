// The GPT (nanoGPT model.py, in LibTorch) built from the parallel layers.
#include "gpt.hpp"

#include <cmath>

#include "context_parallel.hpp"

namespace parplan::runtime {

torch::Tensor init_normal(uint64_t seed, const std::string& name, at::IntArrayRef shape, double std) {
  uint64_t h = 1469598103934665603ULL ^ seed;  // FNV-1a of (seed, name): stable across ranks
  for (unsigned char c : name) h = (h ^ c) * 1099511628211ULL;
  auto gen = at::detail::createCPUGenerator(h);
  return torch::randn(shape, gen, torch::kFloat32) * std;
}

namespace {
bool sp_on(const GptConfig& c, const ModelGroups& g) { return c.sequence_parallel && g.tp->size() > 1; }
}  // namespace

CausalSelfAttentionImpl::CausalSelfAttentionImpl(const GptConfig& c, const ModelGroups& g,
                                                 const std::string& name)
    : heads_local(c.heads / g.tp->size()), head_dim(c.hidden / c.heads), sequence_parallel(sp_on(c, g)),
      cp(g.cp) {
  auto* tp = g.tp;
  bool sp = sequence_parallel;
  q = register_module("q", ColumnParallelLinear(c.hidden, c.hidden, tp, c.seed, name + ".q", 0.02, sp));
  k = register_module("k", ColumnParallelLinear(c.hidden, c.hidden, tp, c.seed, name + ".k", 0.02, sp));
  v = register_module("v", ColumnParallelLinear(c.hidden, c.hidden, tp, c.seed, name + ".v", 0.02, sp));
  // nanoGPT: residual projections get std 0.02 / sqrt(2 * n_layer).
  proj = register_module("proj", RowParallelLinear(c.hidden, c.hidden, tp, c.seed, name + ".proj",
                                                   0.02 / std::sqrt(2.0 * double(c.layers)), sp));
}

torch::Tensor CausalSelfAttentionImpl::forward(const torch::Tensor& x, const torch::Tensor& proj_bias) {
  // One input collective for Q, K and V (all-gather under SP, else copy_to_tp).
  auto xc = column_parallel_input(x, q->tp, sequence_parallel);
  auto B = xc.size(0), T = xc.size(1);
  auto split = [&](const torch::Tensor& t) {
    return t.view({B, T, heads_local, head_dim}).transpose(1, 2);  // [B, h, T, d]
  };
  auto qh = split(q->forward_copied(xc)), kh = split(k->forward_copied(xc)), vh = split(v->forward_copied(xc));
  torch::Tensor y;
  if (cp->size() > 1) {
    y = ring_attention(qh, kh, vh, cp);
  } else {
    auto att = torch::matmul(qh, kh.transpose(-2, -1)) * (1.0 / std::sqrt(double(head_dim)));
    auto mask = torch::ones({T, T}, torch::TensorOptions().dtype(torch::kBool).device(x.device())).triu(1);
    y = torch::matmul(att.masked_fill(mask, -std::numeric_limits<float>::infinity()).softmax(-1), vh);
  }
  return proj->forward_with_bias(y.transpose(1, 2).contiguous().view({B, T, heads_local * head_dim}), proj_bias);
}

MlpImpl::MlpImpl(const GptConfig& c, Group* tp, const std::string& name) {
  bool sp = c.sequence_parallel && tp->size() > 1;
  fc = register_module("fc", ColumnParallelLinear(c.hidden, c.ffn_hidden, tp, c.seed, name + ".fc", 0.02, sp));
  proj = register_module("proj", RowParallelLinear(c.ffn_hidden, c.hidden, tp, c.seed, name + ".proj",
                                                   0.02 / std::sqrt(2.0 * double(c.layers)), sp));
}

torch::Tensor MlpImpl::forward(const torch::Tensor& x, const torch::Tensor& proj_bias) {
  return proj->forward_with_bias(torch::gelu(fc(x)), proj_bias);
}

BlockImpl::BlockImpl(const GptConfig& c, const ModelGroups& g, int64_t layer) {
  const std::string name = "h." + std::to_string(layer);
  ln_1 = register_module("ln_1", torch::nn::LayerNorm(torch::nn::LayerNormOptions({c.hidden})));
  attn = register_module("attn", CausalSelfAttention(c, g, name + ".attn"));
  ln_2 = register_module("ln_2", torch::nn::LayerNorm(torch::nn::LayerNormOptions({c.hidden})));
  if (c.is_moe_layer(layer)) {
    MoeConfig mc{c.hidden, c.experts, c.experts_per_token, c.expert_ffn_hidden, c.layers, c.router_bias, c.seed};
    moe = register_module("moe", Moe(mc, g.ep, name + ".moe"));
  } else {
    mlp = register_module("mlp", Mlp(c, g.tp, name + ".mlp"));
  }
  if (sp_on(c, g)) sp_group = g.tp;
}

torch::Tensor BlockImpl::forward(torch::Tensor x) {
  // Under SP each rank normalises and adds biases for its part of the sequence only: these
  // replicated parameters get their gradients summed over the TP group (one all-reduce).
  std::vector<torch::Tensor> p = {ln_1->weight, ln_1->bias, ln_2->weight, ln_2->bias, attn->proj->bias};
  if (mlp) p.push_back(mlp->proj->bias);
  if (sp_group) p = sp::sum_grads_over_sequence(p, sp_group);
  const std::vector<int64_t> C = {x.size(-1)};
  x = x + attn->forward(torch::layer_norm(x, C, p[0], p[1], 1e-5), p[4]);
  auto h = torch::layer_norm(x, C, p[2], p[3], 1e-5);
  return x + (mlp ? mlp->forward(h, p[5]) : moe->forward(h));
}

GptStageImpl::GptStageImpl(const GptConfig& c, const ModelGroups& g) : cfg(c), groups(g) {
  torch::NoGradGuard no_grad;
  if (c.has_embedding) {
    wte = register_module("wte", torch::nn::Embedding(c.vocab, c.hidden));
    wpe = register_module("wpe", torch::nn::Embedding(c.block_size, c.hidden));
    wte->weight.copy_(init_normal(c.seed, "wte", {c.vocab, c.hidden}, 0.02));
    wpe->weight.copy_(init_normal(c.seed, "wpe", {c.block_size, c.hidden}, 0.02));
  }
  blocks = register_module("blocks", torch::nn::ModuleList());
  for (auto l = c.first_layer; l < c.last_layer; ++l) blocks->push_back(Block(c, g, l));
  if (c.has_head) {
    ln_f = register_module("ln_f", torch::nn::LayerNorm(torch::nn::LayerNormOptions({c.hidden})));
    if (!c.tied)
      head_weight = register_parameter("head", init_normal(c.seed, "head", {c.vocab, c.hidden}, 0.02));
  }
}

int64_t GptStageImpl::seq_shards() const { return sp_on(cfg, groups) ? groups.tp->size() : 1; }

torch::Tensor GptStageImpl::forward(const torch::Tensor& input) {
  const bool sp = sp_on(cfg, groups);
  torch::Tensor x = input;
  auto before = [&](int seg) { if (hooks) hooks->before_forward(seg); };
  auto after = [&](int seg) { if (hooks) x = hooks->after_forward(seg, x); };
  if (cfg.has_embedding) {
    before(0);
    const int64_t T = input.size(1);
    auto pos = groups.cp->size() > 1 ? cp_positions(T, groups.cp->size(), groups.cp->rank())
                                     : torch::arange(T, torch::kLong);
    x = wte(input) + wpe(pos.to(input.device()));
    if (sp) x = sp::scatter_to_sequence_parallel(x, groups.tp);  // replicated -> this rank's part
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
    if (sp) {
      auto p = sp::sum_grads_over_sequence({ln_f->weight, ln_f->bias}, groups.tp);
      x = torch::layer_norm(x, {cfg.hidden}, p[0], p[1], 1e-5);
      x = sp::gather_from_sequence_parallel(x, groups.tp, /*tensor_parallel_consumer=*/false);
    } else {
      x = ln_f(x);
    }
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
