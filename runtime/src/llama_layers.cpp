// RMSNorm, rotary embeddings, the gated MLP activation and the GQA head layout under TP.
#include "llama_layers.hpp"

#include <algorithm>
#include <cmath>

namespace parplan::runtime {

NormImpl::NormImpl(int64_t n, bool rms_norm, bool with_bias, double e) : rms(rms_norm), eps(e) {
  weight = register_parameter("weight", torch::ones({n}));
  if (with_bias && !rms) bias = register_parameter("bias", torch::zeros({n}));
}

torch::Tensor NormImpl::apply(const torch::Tensor& x, const torch::Tensor& w, const torch::Tensor& b) const {
  if (rms) return rms_norm(x, w, eps);
  return torch::layer_norm(x, {x.size(-1)}, w, b, eps);
}

std::vector<torch::Tensor> NormImpl::params() const {
  std::vector<torch::Tensor> p = {weight};
  if (bias.defined()) p.push_back(bias);
  return p;
}

torch::Tensor rms_norm(const torch::Tensor& x, const torch::Tensor& w, double eps) {
  auto xf = x.to(torch::kFloat32);
  auto y = xf * torch::rsqrt(xf.pow(2).mean(-1, true) + eps);
  return w * y.to(x.scalar_type());
}

Rotary::Rotary(int64_t head_dim, double base, const std::string& scaling, double factor) {
  inv_freq = 1.0 / torch::pow(torch::tensor(base, torch::kFloat64),
                              torch::arange(0, head_dim, 2, torch::kFloat64) / double(head_dim));
  if (scaling == "linear" && factor > 0) {
    inv_freq = inv_freq / factor;  // positions / factor
  } else if (scaling == "llama3" && factor > 0) {
    // transformers' _compute_llama3_parameters with Llama 3.1's constants.
    const double low = 1, high = 4, old_ctx = 8192;
    auto wavelen = 2 * M_PI / inv_freq;
    auto scaled = torch::where(wavelen > old_ctx / low, inv_freq / factor, inv_freq);
    auto smooth = (old_ctx / wavelen - low) / (high - low);
    auto smoothed = (1 - smooth) * scaled / factor + smooth * scaled;
    auto medium = (wavelen >= old_ctx / high).logical_and(wavelen <= old_ctx / low);
    inv_freq = torch::where(medium, smoothed, scaled);
  }
  inv_freq = inv_freq.to(torch::kFloat32);
}

std::pair<torch::Tensor, torch::Tensor> Rotary::cos_sin(const torch::Tensor& positions,
                                                        const torch::Device& device) const {
  auto freqs = torch::outer(positions.to(torch::kFloat32).cpu(), inv_freq);  // [T, d/2]
  auto emb = torch::cat({freqs, freqs}, -1);
  return {emb.cos().to(device), emb.sin().to(device)};
}

torch::Tensor apply_rotary(const torch::Tensor& x, const torch::Tensor& cos, const torch::Tensor& sin) {
  const int64_t h = x.size(-1) / 2;
  auto rotated = torch::cat({-x.narrow(-1, h, h), x.narrow(-1, 0, h)}, -1);
  return x * cos.to(x.scalar_type()) + rotated * sin.to(x.scalar_type());
}

torch::Tensor repeat_kv_heads(const torch::Tensor& x, int64_t group) {
  if (group == 1) return x;
  const auto B = x.size(0), h = x.size(1), T = x.size(2), d = x.size(3);
  return x.unsqueeze(2).expand({B, h, group, T, d}).reshape({B, h * group, T, d});
}

KvLayout kv_layout(int64_t kv_heads, int tp, int tp_rank) {
  KvLayout k;
  if (kv_heads >= tp) {
    k.local = kv_heads / tp;
    k.first = tp_rank * k.local;
    k.replica_tp_ranks = {tp_rank};
    return k;
  }
  k.local = 1;
  k.replicas = int(tp / kv_heads);
  k.first = tp_rank / k.replicas;
  for (int i = 0; i < k.replicas; ++i) k.replica_tp_ranks.push_back(int(k.first) * k.replicas + i);
  return k;
}

torch::Tensor gated_activation(const torch::Tensor& gate, const torch::Tensor& up, const std::string& act) {
  if (act == "gelu") return torch::gelu(gate) * up;
  if (act == "gelu_tanh" || act == "gelu_pytorch_tanh" || act == "gelu_new") return torch::gelu(gate, "tanh") * up;
  return torch::silu(gate) * up;  // "", silu, swish
}

void check_architecture(const Model& m, int tp, std::vector<std::string>& errors) {
  static const char* kActs[] = {"", "silu", "swish", "gelu", "gelu_tanh", "gelu_pytorch_tanh", "gelu_new"};
  if (m.gated_mlp && std::find(std::begin(kActs), std::end(kActs), m.activation) == std::end(kActs))
    errors.push_back("model.activation " + m.activation +
                     ": the runtime's gated MLP runs silu (SwiGLU) or gelu / gelu_tanh (GeGLU)");
  const int64_t kv = m.kv_heads > 0 ? m.kv_heads : m.heads;
  if (kv < 1 || m.heads % kv)
    errors.push_back("model.heads must be a multiple of model.kv_heads");
  else if (tp > 0 && kv >= tp && kv % tp)
    errors.push_back("model.kv_heads must be divisible by layout.tp (or layout.tp by model.kv_heads: then each KV head is replicated on tp / kv_heads ranks)");
  else if (tp > 0 && kv < tp && tp % kv)
    errors.push_back("layout.tp must be divisible by model.kv_heads when tp > kv_heads (each KV head is replicated on tp / kv_heads ranks)");
  if (m.position == Position::None)
    errors.push_back("model.position none (ALiBi / NoPE) is not implemented by the runtime; set learned or rotary");
  if (m.position == Position::Rotary && m.head_dim() % 2)
    errors.push_back("model.position rotary needs an even head dimension (model.hidden / model.heads)");
  if (!m.rope_scaling.empty() && m.rope_scaling != "default" && m.rope_scaling != "linear" &&
      m.rope_scaling != "llama3")
    errors.push_back("model.rope_scaling " + m.rope_scaling +
                     " is not implemented by the runtime; it runs linear and llama3 (or none)");
  if (m.qk_norm) errors.push_back("model.qk_norm is not implemented by the runtime (set false)");
  if (m.parallel_residual) errors.push_back("model.parallel_residual is not implemented by the runtime (set false)");
  if (m.sliding_window > 0) errors.push_back("model.sliding_window is not implemented by the runtime (set 0)");
  if (m.mtp_layers > 0) errors.push_back("model.mtp_layers (multi-token prediction) is not implemented by the runtime (set 0)");
  if (m.mla.enabled()) errors.push_back("model.mla (multi-head latent attention) is not implemented by the runtime");
}

}  // namespace parplan::runtime
