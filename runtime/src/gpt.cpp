// The GPT (nanoGPT model.py, in LibTorch) built from the parallel layers.
#include "gpt.hpp"

#include <cmath>
#include <limits>
#include <tuple>

#include <torch/version.h>

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
    : heads_local(c.heads / g.tp->size()), head_dim(c.hd()), sequence_parallel(sp_on(c, g)), cp(g.cp) {
  auto* tp = g.tp;
  bool sp = sequence_parallel;
  const auto kvl = kv_layout(c.kv(), tp->size(), tp->rank());
  kv_local = kvl.local;
  // Replicated KV heads (tp > kv_heads): this rank's head of the full [kv_heads * d, hidden].
  const int shard = kvl.replicas > 1 ? int(kvl.first) : -1, shards = kvl.replicas > 1 ? int(c.kv()) : -1;
  if (kvl.replicas > 1) kv_replicas = g.kv;
  const int64_t q_out = c.heads * head_dim, kv_out = c.kv() * head_dim;
  q = register_module("q", ColumnParallelLinear(c.hidden, q_out, tp, c.seed, name + ".q", 0.02, sp, false, c.qkv_bias));
  k = register_module("k", ColumnParallelLinear(c.hidden, kv_out, tp, c.seed, name + ".k", 0.02, sp, false,
                                                c.qkv_bias, shard, shards));
  v = register_module("v", ColumnParallelLinear(c.hidden, kv_out, tp, c.seed, name + ".v", 0.02, sp, false,
                                                c.qkv_bias, shard, shards));
  // nanoGPT: residual projections get std 0.02 / sqrt(2 * n_layer).
  proj = register_module("proj", RowParallelLinear(q_out, c.hidden, tp, c.seed, name + ".proj",
                                                   0.02 / std::sqrt(2.0 * double(c.layers)), sp, c.linear_bias));
  if (c.rotary) rope = Rotary(head_dim, c.rope_base, c.rope_scaling, c.rope_factor);
}

torch::Tensor CausalSelfAttentionImpl::forward(const torch::Tensor& x, const torch::Tensor& proj_bias) {
  // One input collective for Q, K and V (all-gather under SP, else copy_to_tp).
  auto xc = column_parallel_input(x, q->tp, sequence_parallel);
  auto B = xc.size(0), T = xc.size(1);
  auto split = [&](const torch::Tensor& t, int64_t h) {
    return t.view({B, T, h, head_dim}).transpose(1, 2);  // [B, h, T, d]
  };
  std::vector<torch::Tensor> kv = {k->weight, k->bias, v->weight, v->bias};
  if (kv_replicas && kv_replicas->size() > 1) {  // each replica saw only its query heads
    std::vector<torch::Tensor> defined;
    for (auto& t : kv)
      if (t.defined()) defined.push_back(t);
    defined = sp::sum_grads_over_sequence(defined, kv_replicas);
    size_t i = 0;
    for (auto& t : kv)
      if (t.defined()) t = defined[i++];
  }
  auto qh = split(q->forward_copied(xc), heads_local);
  auto kh = split(k->forward_copied_with(xc, kv[0], kv[1]), kv_local);
  auto vh = split(v->forward_copied_with(xc, kv[2], kv[3]), kv_local);
  if (rope.defined()) {
    if (!rope_cos.defined() || rope_cos.size(0) != T || rope_cos.device() != x.device()) {
      auto pos = cp->size() > 1 ? cp_positions(T, cp->size(), cp->rank()) : torch::arange(T, torch::kLong);
      std::tie(rope_cos, rope_sin) = rope.cos_sin(pos, x.device());  // once per length: no graph
    }
    qh = apply_rotary(qh, rope_cos, rope_sin);
    kh = apply_rotary(kh, rope_cos, rope_sin);
  }
  torch::Tensor y;
  if (cp->size() > 1) {
    y = ring_attention(qh, kh, vh, cp);  // repeats the KV heads after each ring step
  } else {
    if (kv_local < heads_local) {  // GQA: query head j reads KV head j / (heads / kv_heads)
      kh = repeat_kv_heads(kh, heads_local / kv_local);
      vh = repeat_kv_heads(vh, heads_local / kv_local);
    }
#if TORCH_VERSION_MAJOR >= 2
    if (x.is_cuda()) {  // flash / memory-efficient attention (LibTorch 2.0+)
      y = at::scaled_dot_product_attention(qh, kh, vh, {}, 0.0, /*is_causal=*/true);
    } else
#endif
    {
      auto att = torch::matmul(qh, kh.transpose(-2, -1)) * (1.0 / std::sqrt(double(head_dim)));
      auto mask = torch::ones({T, T}, torch::TensorOptions().dtype(torch::kBool).device(x.device())).triu(1);
      y = torch::matmul(att.masked_fill(mask, -std::numeric_limits<float>::infinity()).softmax(-1), vh);
    }
  }
  return proj->forward_with_bias(y.transpose(1, 2).contiguous().view({B, T, heads_local * head_dim}), proj_bias);
}

MlpImpl::MlpImpl(const GptConfig& c, Group* tp, const std::string& name) : activation(c.activation) {
  bool sp = c.sequence_parallel && tp->size() > 1;
  fc = register_module("fc", ColumnParallelLinear(c.hidden, c.ffn_hidden, tp, c.seed, name + ".fc", 0.02, sp,
                                                  false, c.linear_bias));
  if (c.gated_mlp)
    up = register_module("up", ColumnParallelLinear(c.hidden, c.ffn_hidden, tp, c.seed, name + ".up", 0.02, sp,
                                                    false, c.linear_bias));
  proj = register_module("proj", RowParallelLinear(c.ffn_hidden, c.hidden, tp, c.seed, name + ".proj",
                                                   0.02 / std::sqrt(2.0 * double(c.layers)), sp, c.linear_bias));
}

torch::Tensor MlpImpl::forward(const torch::Tensor& x, const torch::Tensor& proj_bias) {
  auto xc = column_parallel_input(x, fc->tp, fc->sequence_parallel);  // one collective for gate and up
  auto h = fc->forward_copied(xc);
  h = up ? gated_activation(h, up->forward_copied(xc), activation) : torch::gelu(h);
  return proj->forward_with_bias(h, proj_bias);
}

BlockImpl::BlockImpl(const GptConfig& c, const ModelGroups& g, int64_t layer) {
  const std::string name = "h." + std::to_string(layer);
  ln_1 = register_module("ln_1", Norm(c.hidden, c.rms_norm, c.norm_bias));
  attn = register_module("attn", CausalSelfAttention(c, g, name + ".attn"));
  ln_2 = register_module("ln_2", Norm(c.hidden, c.rms_norm, c.norm_bias));
  if (c.is_moe_layer(layer)) {
    MoeConfig mc{c.hidden, c.experts, c.experts_per_token, c.expert_ffn_hidden, c.layers, c.router_bias, c.seed,
                 c.gated_mlp, c.linear_bias, c.activation};
    moe = register_module("moe", Moe(mc, g.ep, name + ".moe"));
  } else {
    mlp = register_module("mlp", Mlp(c, g.tp, name + ".mlp"));
  }
  if (sp_on(c, g)) sp_group = g.tp;
}

torch::Tensor BlockImpl::forward(torch::Tensor x) {
  // Under SP each rank normalises and adds biases for its part of the sequence only: these
  // replicated parameters get their gradients summed over the TP group (one all-reduce).
  auto n1 = ln_1->params(), n2 = ln_2->params();
  std::vector<torch::Tensor> p = n1;
  p.insert(p.end(), n2.begin(), n2.end());
  const size_t proj_b = p.size();
  p.push_back(attn->proj->bias);
  if (mlp) p.push_back(mlp->proj->bias);
  if (sp_group) {  // the defined ones only
    std::vector<torch::Tensor> defined;
    for (auto& t : p)
      if (t.defined()) defined.push_back(t);
    defined = sp::sum_grads_over_sequence(defined, sp_group);
    size_t i = 0;
    for (auto& t : p)
      if (t.defined()) t = defined[i++];
  }
  auto opt = [&](size_t i, size_t n) { return i < n ? p[i] : torch::Tensor(); };
  const size_t a = n1.size();
  x = x + attn->forward(ln_1->apply(x, p[0], opt(1, a)), p[proj_b]);
  auto h = ln_2->apply(x, p[a], opt(a + 1, proj_b));
  return x + (mlp ? mlp->forward(h, p[proj_b + 1]) : moe->forward(h));
}

GptStageImpl::GptStageImpl(const GptConfig& c, const ModelGroups& g) : cfg(c), groups(g) {
  torch::NoGradGuard no_grad;
  if (c.has_embedding) {
    wte = register_module("wte", torch::nn::Embedding(c.vocab, c.hidden));
    wte->weight.copy_(init_normal(c.seed, "wte", {c.vocab, c.hidden}, 0.02));
    if (!c.rotary) {
      wpe = register_module("wpe", torch::nn::Embedding(c.block_size, c.hidden));
      wpe->weight.copy_(init_normal(c.seed, "wpe", {c.block_size, c.hidden}, 0.02));
    }
  }
  blocks = register_module("blocks", torch::nn::ModuleList());
  for (auto l = c.first_layer; l < c.last_layer; ++l) blocks->push_back(Block(c, g, l));
  if (c.has_head) {
    ln_f = register_module("ln_f", Norm(c.hidden, c.rms_norm, c.norm_bias));
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
    x = wpe ? wte(input) + wpe(pos.to(input.device())) : wte(input);
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
      auto p = sp::sum_grads_over_sequence(ln_f->params(), groups.tp);
      x = ln_f->apply(x, p[0], p.size() > 1 ? p[1] : torch::Tensor());
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
