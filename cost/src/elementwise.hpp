#pragma once
// Internal: the memory-bound elementwise traffic of one transformer layer as the framework runs
// it (fused kernels or eager PyTorch), and what torchtitan's op-level selective recomputation
// redoes. Behaviours from framework.hpp; docs/cost-model.md "Eager and compiled execution".
#include "parplan/cost/compute.hpp"

namespace parplan::cost::detail {

// Forward HBM bytes of one layer's elementwise ops for T local tokens (norms, dropout and
// residual adds, the MLP activation, RoPE, GQA's K/V expansion where the framework copies it).
// Dense layers only: `dense_share` of the MLP activation is counted (MoE layers count theirs in
// moe.cpp).
double layer_elementwise_bytes(const Model& m, const Training& t, const Layout& l, double T,
                               double dense_share);

// Forward GEMM seconds that "selective" recomputes beyond the attention core under the
// framework's policy: torchtitan op-level SAC recomputes every second aten.mm of a block (in
// block order wq, wk, wv, wo, w1, w3, w2: wk, wo and w3), and every FP8 GEMM (torch._scaled_mm is
// not in its save list). `linear_fwd_s`: all of the layer's linear GEMMs in forward.
double selective_recompute_gemm_s(const Model& m, const Cluster& c, const Training& t,
                                  const Layout& l, double T, double linear_fwd_s);

}  // namespace parplan::cost::detail
