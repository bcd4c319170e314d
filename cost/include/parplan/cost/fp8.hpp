#pragma once
// FP8 training (Micikevicius et al. 2022, "FP8 Formats for Deep Learning"; NVIDIA Transformer
// Engine): the transformer layers' linear GEMMs in FP8, the attention core, the logits and every
// memory-bound op in BF16. Casts and scales are memory-bound work by recipe; FP8 weight copies sit
// next to the BF16 weights and the fp32 master weights.
#include <string>

#include "parplan/model/cluster.hpp"
#include "parplan/model/layout.hpp"
#include "parplan/model/model.hpp"
#include "parplan/model/training.hpp"

namespace parplan::cost {

// The dtype of the layers' linear GEMMs (QKV, attention projection, FC1, FC2): MXFP8 / NVFP4
// for those recipes, else the training dtype.
DType linear_gemm_dtype(const Training& t);
// Why this GPU cannot train in this precision ("" when it can): no peak for the dtype, FP8
// without a BF16 peak, MXFP8 / NVFP4 without Blackwell's block-scaled tensor cores.
std::string precision_refusal(const Gpu& g, const Training& t);
// The dtype of all other math (attention core, logits): BF16 under FP8, else the training dtype.
DType compute_dtype(const Training& t);
// The peak that MFU and HFU divide by, in every output (CLI, JSON, GUI, plan files): the dense
// peak of the dtype the linear GEMMs run in (FP8 runs: the FP8 peak), so MFU <= 100% by
// construction (no FLOP is priced above its dtype's peak). docs/design.md "MFU".
double utilization_peak_flops(const Gpu& g, const Training& t);
// The peak published MFU figures divide by: the dense BF16 peak for FP8 runs (torchtitan's
// get_peak_flops, Megatron-LM's reports), else the same as above. Only for comparing with them
// (the validation corpus); an FP8 run's MFU against it can pass 100%.
double published_mfu_peak_flops(const Gpu& g, const Training& t);

// Memory-bound bytes FP8 casting and scaling add to one layer, one micro-batch, one GPU.
struct Fp8CastBytes {
  double fwd = 0;  // GEMM inputs cast to FP8 (+ transposed copy) and the weights' share
  double bwd = 0;  // output gradients cast to FP8 (+ transposed copy)
};
Fp8CastBytes fp8_cast_bytes(const Model& m, const Training& t, const Layout& l);

// Kernels NVFP4's quantization adds per linear layer and pass beyond a framework's FP8 cast count
// (TE's random Hadamard transform path: an amax kernel and a separate column-wise cast); 0 else.
double nvfp4_cast_kernels_per_linear(const Training& t);
// Amax all-reduces over the TP group per layer and pass (forward and backward each) that NVFP4's
// quantizers run under sequence parallelism (TE 2.12); 0 for other recipes or without SP.
int amax_reductions_per_pass(const Training& t, const Layout& l);

// Bytes per element of a GEMM input saved for the weight gradient: TE keeps the FP8 copy (1).
double saved_gemm_input_bytes(const Training& t);
// Bytes per layer-weight parameter of the FP8 copies TE caches (FP8 + transposed: 2); 0 without FP8.
double fp8_weight_copy_bytes(const Training& t);
// Whether the parameter all-gather (ZeRO / FSDP / distributed optimizer) moves FP8 weights
// (Megatron --fp8-param-gather, torchtitan enable_fsdp_float8_all_gather; both off by default).
bool fp8_param_gather(const Training& t);
// Bytes per layer-weight parameter that the parameter all-gather moves.
double param_gather_bytes_per_param(const Training& t);

}  // namespace parplan::cost
