// Ring attention with causal load balancing over the CP group.
#include "context_parallel.hpp"

#include <cmath>
#include <optional>

#include "llama_layers.hpp"
#include "mappings.hpp"

namespace parplan::runtime {

torch::Tensor cp_positions(int64_t t_local, int cp, int rank) {
  const int64_t c = t_local / 2;  // one of the 2 * cp chunks
  auto first = torch::arange(rank * c, (rank + 1) * c, torch::kLong);
  auto second = torch::arange((2 * cp - 1 - rank) * c, (2 * cp - rank) * c, torch::kLong);
  return torch::cat({first, second});
}

torch::Tensor cp_local_tokens(const torch::Tensor& x, Group* cp) {
  if (cp->size() == 1) return x;
  const int p = cp->size(), r = cp->rank();
  const int64_t c = x.size(1) / (2 * p);
  return torch::cat({x.narrow(1, r * c, c), x.narrow(1, (2 * p - 1 - r) * c, c)}, 1).contiguous();
}

std::pair<int, int64_t> cp_owner(int64_t pos, int64_t T, int cp) {
  if (cp <= 1) return {0, pos};
  const int64_t c = T / (2 * cp), chunk = pos / c;
  return chunk < cp ? std::make_pair(int(chunk), pos % c) : std::make_pair(int(2 * cp - 1 - chunk), c + pos % c);
}

torch::Tensor ring_attention(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v,
                             Group* cp) {
  const int p = cp->size(), r = cp->rank();
  const int64_t t = q.size(2);
  const double scale = 1.0 / std::sqrt(double(q.size(3)));
  // A masked score: finite, so a block whose keys all lie in the future of a query gives that
  // query a finite log-sum-exp and weight exp(-1e30 - lse) = 0 in the merge, not NaN.
  constexpr double kMasked = -1e30;
  auto pos_q = cp_positions(t, p, r).to(q.device());
  auto kv = torch::stack({k, v});  // one ring shift per step for both (the KV heads only, under GQA)
  const int64_t group = q.size(1) / k.size(1);  // query heads per KV head
  auto expand = [&](const torch::Tensor& t) { return repeat_kv_heads(t, group); };
  std::vector<torch::Tensor> outs, lses;
  for (int s = 0; s < p; ++s) {
    // The keys/values of rank r - s - 1 travel while this block is computed (Megatron-Core's
    // ring attention: the next step's send/recv posted before the current block's attention).
    std::optional<cp::RingShiftInFlight> next;
    if (s + 1 < p) next.emplace(cp::ring_shift_start(kv, cp));
    auto pos_k = cp_positions(t, p, (r - s + p) % p).to(q.device());
    auto scores = torch::matmul(q, expand(kv[0]).transpose(-2, -1)) * scale;  // [B, h, t, t]
    auto future = pos_k.unsqueeze(0) > pos_q.unsqueeze(1);           // [t, t]
    scores = scores.masked_fill(future, kMasked);
    auto lse = torch::logsumexp(scores, -1, true);  // [B, h, t, 1]
    outs.push_back(torch::matmul(torch::exp(scores - lse), expand(kv[1])));
    lses.push_back(lse);
    if (next) kv = next->wait();  // now the keys/values of rank r - s - 1
  }
  auto lse_all = torch::logsumexp(torch::stack(lses), 0);
  auto y = torch::zeros_like(q);
  for (int s = 0; s < p; ++s) y = y + torch::exp(lses[size_t(s)] - lse_all) * outs[size_t(s)];
  return y;
}

void check_context_parallel(const Plan& plan, std::vector<std::string>& errors) {
  const auto& l = plan.layout;
  if (l.cp <= 1) return;
  if (l.cp_kind != CpKind::Ring)
    errors.push_back(std::string("layout.cp_kind ") + to_string(l.cp_kind) +
                     ": the runtime runs ring attention only; set layout.cp_kind ring");
  if (plan.training.seq_len % (2 * l.cp))
    errors.push_back("train.seq_len must be divisible by 2 * layout.cp (causal load balancing cuts the sequence into 2 * cp chunks)");
}

}  // namespace parplan::runtime
