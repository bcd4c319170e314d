#pragma once
// Expert parallelism for MoE layers (GShard, Lepikhin et al. 2020; Megatron-Core MoE): a top-k
// router, the routed experts split over the EP group (rank q holds experts
// [q * E/ep, (q + 1) * E/ep)), tokens dispatched to the rank of their expert and the results
// combined back by all-to-all (mappings.hpp ep::all_to_all). Dropless (no capacity factor), no
// auxiliary load-balancing loss; the top-k probabilities are renormalised to sum to 1 (Mixtral).
// Each expert is an MLP like the dense one: GELU with biases, or gated (SwiGLU) without.
//
// EP is carved out of DP: an EP group is ep consecutive DP ranks (same tp, pp); each rank routes
// its own tokens. Expert weights are replicated across the ep-strided "expert data-parallel"
// group, whose optimizer averages their gradients; since an expert's gradient already sums the
// tokens of the ep ranks that sent it some, the backward scales it by 1/ep first.
#include <string>
#include <vector>

#include <torch/torch.h>

#include "comm.hpp"
#include "parplan/model/plan.hpp"

namespace parplan::runtime {

struct MoeConfig {
  int64_t hidden = 0, experts = 0, top_k = 0, ffn_hidden = 0, layers = 1;
  bool router_bias = false;
  uint64_t seed = 1337;
  bool gated = false;       // SwiGLU experts (Mixtral, DeepSeek, Qwen-MoE): down(act(gate x) * up x)
  bool bias = true;         // expert biases (GPT-style); Llama-family experts have none
  std::string activation;   // of gated experts (llama_layers.hpp gated_activation)
};

struct MoeImpl : torch::nn::Module {
  MoeConfig cfg;
  Group* ep;
  int64_t local = 0, first = 0;  // this rank's experts [first, first + local)
  torch::Tensor router, router_b;            // [E, H], [E] (replicated)
  torch::Tensor fc_w, fc_b, proj_w, proj_b;  // [local, F, H], [local, F], [local, H, F], [local, H]
  torch::Tensor up_w;                        // gated: [local, F, H]; biases undefined without
  MoeImpl(const MoeConfig& c, Group* ep_group, const std::string& name);
  torch::Tensor forward(const torch::Tensor& x);  // [B, T, H] -> [B, T, H]
};
TORCH_MODULE(Moe);

// Parameters of routed experts are named with this prefix (they are not data-parallel).
inline bool is_expert_parameter(const std::string& name) {
  return name.find("experts_") != std::string::npos;
}

// What the runtime cannot run with a MoE model or ep > 1 (messages naming the field).
void check_expert_parallel(const Plan& plan, std::vector<std::string>& errors);

}  // namespace parplan::runtime
