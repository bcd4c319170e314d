#pragma once
// Internal: Megatron-Core's selective recomputation by module (Layout::recompute_modules,
// --recompute-modules; Megatron-LM@b0cc270): the forward work each recomputed module runs again
// in backward, and the kernels it launches again. Its memory is in memory.cpp / moe.cpp.
#include "parplan/cost/compute.hpp"
#include "parplan/cost/moe.hpp"

namespace parplan::cost::detail {

// The pieces of one layer's forward (compute.cpp) the modules rerun, per average layer.
struct LayerForwardParts {
  double tokens = 0;            // T: local tokens per micro-batch
  double attention_core_s = 0;  // the attention core, as core_attn recomputes it
  double dense_mlp_s = 0;       // a dense layer's MLP GEMMs (FC1, FC2)
  const MoeLayerWork* moe = nullptr;
};

// Seconds of forward work the layout's modules rerun in backward (recompute selective with
// explicit modules; 0 otherwise).
double module_recompute_s(const Model& m, const Cluster& c, const Training& t, const Layout& l,
                          const LayerForwardParts& parts);

// Forward kernels the modules launch again (floors.cpp layer_kernels), per average layer;
// `selective_kernels`: the framework's count for core_attn (Kernels::selective_recompute).
double module_recompute_kernels(const Model& m, const Training& t, const Layout& l,
                                double selective_kernels);

// Forward FLOPs the modules rerun for `tokens` tokens over every layer (flops.cpp's hardware
// FLOPs).
double module_recompute_flops(const Model& m, const Layout& l, double tokens, double seq_len);

}  // namespace parplan::cost::detail
