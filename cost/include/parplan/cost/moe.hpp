#pragma once
// Mixture of experts: parameters, FLOPs from the active experts, expert-parallel placement,
// token dispatch/combine all-to-all, capacity and load imbalance, grouped-GEMM time and the
// activations a MoE layer keeps (Shazeer et al. 2017; Lepikhin et al. 2020 GShard; Fedus et al.
// 2021; DeepSeek-V3 report sec. 2.1.2 and 3.2; Megatron-Core MoE "parallel folding").
#include "parplan/cost/collectives.hpp"
#include "parplan/model/cluster.hpp"
#include "parplan/model/layout.hpp"
#include "parplan/model/model.hpp"
#include "parplan/model/training.hpp"

namespace parplan::cost {

// Parameters of one MoE layer's MLP part (no attention, no norms).
struct MoeLayerParams {
  double one_expert = 0;  // one routed expert: its FFN matrices (+ biases)
  double routed = 0;      // all routed experts
  double shared = 0;      // always-active shared experts
  double router = 0;      // gate weights (+ expert bias)
  double total() const { return routed + shared + router; }
  // What one token uses: experts_per_token routed experts, the shared ones and the router.
  double active(const Model& m) const;
};
MoeLayerParams moe_layer_params(const Model& m);

// Forward FLOPs of one MoE layer's MLP part for `tokens` tokens: the top-k routed experts, the
// shared experts and the router (2 FLOPs per weight per token).
double moe_mlp_forward_flops(const Model& m, double tokens);

// max/mean tokens per expert the slowest expert-parallel rank sees: model.moe.load_imbalance, or
// the default measured by Wang et al. 2024 (arXiv:2408.15664, Table 2, 3B: MaxVio_global 0.52 with an
// auxiliary loss, 0.04 loss-free) for the router's balancing method.
double load_imbalance(const Model& m);
// What the slowest expert computes relative to a perfectly balanced one: the imbalance when
// dropless; with a capacity factor every expert's buffer is padded to capacity_factor * mean
// (GShard / Switch fixed-shape dispatch) and tokens above it are dropped.
double expert_load_factor(const Model& m);
// Share of routed token-expert pairs dropped at the capacity limit (0 when dropless).
double dropped_token_fraction(const Model& m);

// The expert-parallel group on the cluster: expert ranks in Megatron-Core's order (etp fastest,
// then ep), so an EP group stays inside a node while etp * ep <= gpus_per_node.
Group ep_group(const Layout& l, const Cluster& c);

// Seconds for an all-to-all where each rank sends `bytes` in total (1/n to each peer): peers on
// the same node over NVLink, the others over the node's NICs at the same time.
double all_to_all_time(double bytes, const Group& g, const Cluster& c);

// One MoE layer, one micro-batch, one GPU.
struct MoeLayerWork {
  double rows = 0;             // token-expert rows this GPU computes (each 1/etp of the FFN)
  double rows_per_expert = 0;  // rows per local expert: the grouped GEMM's m
  double local_experts = 0;    // experts / ep
  double fwd_matmul_s = 0;     // routed experts (grouped GEMM, slowest rank) + shared + router
  double fwd_memory_s = 0;     // permute/unpermute, expert activation
  double act_memory_s = 0;     // ... of which the routed experts' activation (moe_act recompute)
  double shared_fwd_s = 0;     // the shared experts' GEMMs and activation (in the two above)
  double dispatch_bytes = 0;   // bytes this GPU sends in one dispatch all-to-all
  double combine_bytes = 0;    // ... and in one combine all-to-all
  double dispatch_s = 0, combine_s = 0;  // one of each
};
MoeLayerWork moe_layer_work(const Model& m, const Cluster& c, const Training& t, const Layout& l);

// Activation bytes the MLP part of one MoE layer keeps for backward (one micro-batch, one GPU),
// in place of the dense MLP's share in Korthikanti et al. 2022 eq. 2.
double moe_mlp_activation_bytes(const Model& m, const Training& t, const Layout& l);

// Expert-parallel all-to-all of one average layer (the MoE layers' share), one micro-batch:
// dispatch + combine in forward; their gradients (16-bit) in backward, plus the forward pair
// again under full recomputation. Exposed: all of it, unless overlapped with the layer's compute.
struct EpComm {
  double fwd_s = 0, bwd_s = 0;
  double fwd_exposed_s = 0, bwd_exposed_s = 0;
};
struct LayerCompute;
EpComm ep_comm(const Model& m, const Cluster& c, const Training& t, const Layout& l,
               const LayerCompute& layer);

// Whether the framework hides the all-to-all behind compute (Training.moe_a2a_overlap; DeepSeek's
// DualPipe overlaps dispatch/combine with the other micro-batch's compute, report sec. 3.2.1).
bool moe_a2a_overlapped(const Training& t);

}  // namespace parplan::cost
