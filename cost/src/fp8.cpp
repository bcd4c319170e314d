// FP8 training: which GEMMs run in FP8, the casts and scales it adds, the weight copies it keeps.
#include "parplan/cost/fp8.hpp"

#include <algorithm>

#include "parplan/cost/pipeline.hpp"

namespace parplan::cost {

namespace {
// Scale bytes per element a recipe writes next to each FP8 copy: per-tensor recipes one fp32 per
// tensor (nothing per element); DeepSeek-V3 sec. 3.3.2 blockwise: one fp32 per 1x128 tile;
// MXFP8 (OCP Microscaling spec v1.0): one E8M0 byte per 32 elements; NVFP4 (NVIDIA, "Pretraining
// LLMs with NVFP4", arXiv:2509.25149 sec. 2): one E4M3 byte per 16 elements (+ one fp32 per tensor).
double scale_bytes_per_element(Fp8Recipe r) {
  switch (r) {
    case Fp8Recipe::Delayed:
    case Fp8Recipe::Current: return 0.0;
    case Fp8Recipe::Blockwise: return 4.0 / 128.0;
    case Fp8Recipe::Mxfp8: return 1.0 / 32.0;
    case Fp8Recipe::Nvfp4: return 1.0 / 16.0;
  }
  return 0.0;
}

// Bytes of one low-precision element: FP8 (E4M3/E5M2) 1, NVFP4's E2M1 half a byte.
double low_element_bytes(Fp8Recipe r) {
  return r == Fp8Recipe::Nvfp4 ? 0.5 : 1.0;
}
// Bytes per element of one quantised copy with its scales.
double copy_bytes(Fp8Recipe r) {
  return low_element_bytes(r) + scale_bytes_per_element(r);
}

// Bytes one cast of a 16-bit tensor to FP8 moves per element: read it (e), write the FP8 copy and
// the transposed FP8 copy the other GEMM operand layout needs (TE's fused cast-transpose: Hopper's
// FP8 tensor cores take only the TN layout; MXFP8 needs row- and column-wise scaled copies), with
// their scales. Current scaling reads the tensor once more for its amax before casting (TE
// Float8CurrentScaling); delayed scaling takes the scale from the amax history and blockwise /
// MXFP8 compute the block's amax inside the cast kernel. NVFP4 (TE 2.12 NVFP4BlockScaling at its
// defaults, pytorch/csrc/quantizer.cpp NVFP4Quantizer::quantize_impl): a GEMM input or output
// gradient, whose column-wise (wgrad) copy takes the random Hadamard transform, is read three
// times: nvte_hadamard_transform_amax (the row-wise amax and the amax after the transform),
// nvte_quantize_v2 (the row-wise copy) and nvte_hadamard_transform_cast_fusion_columnwise (the
// transform and the column-wise copy); the 16x16 transform's MMAs (32 FLOP per element) and the
// gradients' stochastic rounding run inside those memory-bound kernels.
double cast_bytes_per_element(const Training& t) {
  const double e = 2.0;  // FP8 runs keep tensors in BF16 between GEMMs
  double b = e + 2.0 * copy_bytes(t.fp8_recipe);
  if (t.fp8_recipe == Fp8Recipe::Current) b += e;
  if (t.fp8_recipe == Fp8Recipe::Nvfp4) b += 2.0 * e;
  return b;
}

// Bytes per element of a weight's cast: read it, write both copies; NVFP4's weights (16x16 2D
// blocks, no Hadamard transform) take an amax pass first (quantize_impl without RHT,
// nvte_compute_amax_with_config), so one read more.
double weight_cast_bytes_per_element(const Training& t) {
  const double e = 2.0;
  return e + 2.0 * copy_bytes(t.fp8_recipe) + (t.fp8_recipe == Fp8Recipe::Nvfp4 ? e : 0.0);
}
}  // namespace

double nvfp4_cast_kernels_per_linear(const Training& t) {
  // quantize_impl with RHT: the amax kernel, the row-wise quantize, the column-wise RHT cast: two
  // beyond the one cast a framework's FP8 count holds (TE 2.12, as cast_bytes_per_element).
  return t.fp8() && t.fp8_recipe == Fp8Recipe::Nvfp4 ? 2.0 : 0.0;
}

int amax_reductions_per_pass(const Training& t, const Layout& l) {
  // TE 2.12 module/layernorm_linear.py and linear.py _customize_quantizers_nvfp4: under sequence
  // parallelism a column-parallel layer's input quantizer (forward: Megatron's linear_qkv and
  // linear_fc1) and a row-parallel layer's output-gradient quantizer (backward: linear_proj and
  // linear_fc2) all-reduce their amaxes over the TP group (quantize_impl: allreduce_coalesced of
  // the row- and column-wise amax, then wait) before casting, so the shards share one scale.
  if (!(t.fp8() && t.fp8_recipe == Fp8Recipe::Nvfp4) || l.tp <= 1 || !l.sequence_parallel)
    return 0;
  return 2;
}

DType linear_gemm_dtype(const Training& t) {
  // Blackwell's block-scaled tensor-core instructions (tcgen05.mma kind::mxf8f6f4 / mxf4nvf4)
  // run at their own peaks (cluster gpu.peak_tflops.mxfp8 / nvfp4).
  if (t.fp8() && t.fp8_recipe == Fp8Recipe::Mxfp8) return DType::MXFP8;
  if (t.fp8() && t.fp8_recipe == Fp8Recipe::Nvfp4) return DType::NVFP4;
  return t.dtype;
}

std::string precision_refusal(const Gpu& g, const Training& t) {
  if (!(g.peak_flops(t.dtype) > 0))
    return std::string("cluster.gpu.peak_tflops has no peak for the training dtype ") +
           to_string(t.dtype) + " on " + g.name + "; add it or change train.dtype";
  if (!t.fp8()) return "";
  if (!(g.peak_flops_bf16 > 0))
    return "cluster.gpu.peak_tflops.bf16: FP8 training runs attention and the logits in BF16; "
           "add the GPU's bf16 peak or change train.dtype";
  // Transformer Engine gates MXFP8BlockScaling and NVFP4BlockScaling on Blackwell (compute
  // capability 10.0+: transformer_engine/pytorch/fp8.py check_mxfp8_support /
  // check_nvfp4_support); torchao's MX training needs SM100 as well. The peaks say whether the
  // GPU has those tensor cores.
  if (t.fp8_recipe == Fp8Recipe::Mxfp8 && !(g.peak_flops_mxfp8 > 0))
    return "train.fp8_recipe mxfp8 needs Blackwell tensor cores (Transformer Engine and torchao "
           "run MXFP8 only on compute capability 10.0+); " + g.name +
           " has no cluster.gpu.peak_tflops.mxfp8: use fp8_recipe delayed, current or blockwise";
  if (t.fp8_recipe == Fp8Recipe::Nvfp4 && !(g.peak_flops_nvfp4 > 0))
    return "train.fp8_recipe nvfp4 needs Blackwell tensor cores (Transformer Engine runs NVFP4 "
           "only on compute capability 10.0+); " + g.name +
           " has no cluster.gpu.peak_tflops.nvfp4: use fp8_recipe delayed, current or blockwise";
  return "";
}

DType compute_dtype(const Training& t) { return t.fp8() ? DType::BF16 : t.dtype; }

double utilization_peak_flops(const Gpu& g, const Training& t) {
  return g.peak_flops(linear_gemm_dtype(t));
}

double published_mfu_peak_flops(const Gpu& g, const Training& t) {
  // torchtitan (torchtitan/tools/utils.py get_peak_flops: "hardcoded BF16 type peak flops") and
  // Megatron-LM report MFU of FP8 runs against the dense BF16 peak, so FP8 and BF16 MFU compare.
  if (t.fp8() && g.peak_flops_bf16 > 0) return g.peak_flops_bf16;
  return g.peak_flops(t.dtype);
}

Fp8CastBytes fp8_cast_bytes(const Model& m, const Training& t, const Layout& l) {
  Fp8CastBytes r;
  if (!t.fp8()) return r;
  const double tp = double(l.tp);
  const double T = double(t.seq_len) / double(l.cp) * double(l.micro_batch);
  const double h = double(m.hidden), f = double(m.ffn_hidden), hd = double(m.head_dim());
  const double q = double(m.heads) * hd, kv = double(m.kv_heads) * hd;
  const double fc1 = (m.gated_mlp ? 2.0 : 1.0) * f;
  const double sp_div = l.sequence_parallel ? tp : 1.0;
  const double per = cast_bytes_per_element(t);
  // Forward: the four GEMM inputs (LayerNorm outputs before QKV and FC1 are cast on the SP shard
  // before TE's all-gather; the attention output and the MLP activation on the TP shard).
  const double inputs = T * (2.0 * h / sp_div + q / tp + f / tp);
  // Backward: the four output gradients (dgrad and wgrad read them in FP8, e5m2 under "hybrid").
  const double grads = T * ((q + 2.0 * kv) / tp + h + fc1 / tp + h);
  // Weights: cast once per step and cached across micro-batches (TE is_first_microbatch, as
  // Megatron-LM passes it); ZeRO-3 re-gathers them every micro-batch, so casts them every time.
  const double weights = (h * (q + 2.0 * kv) + q * h + fc1 * h + f * h) / tp;
  const double weight_bytes = weight_cast_bytes_per_element(t);
  const double per_mb = l.zero >= 3 ? 1.0 : double(std::max<int64_t>(1, micro_batches(t, l)));
  r.fwd = inputs * per + weights * weight_bytes / per_mb;
  r.bwd = grads * per;
  return r;
}

double saved_gemm_input_bytes(const Training& t) {
  // TE's Linear / LayerNormLinear save the FP8-cast input for the weight gradient (NVFP4: the
  // 4-bit copy with its block scales).
  return t.fp8() ? (t.fp8_recipe == Fp8Recipe::Nvfp4 ? copy_bytes(t.fp8_recipe) : 1.0)
                 : double(t.element_bytes());
}

bool fp8_param_gather(const Training& t) {
  return t.fp8() && t.fp8_param_gather == Switch::On;
}

double fp8_weight_copy_bytes(const Training& t) {
  if (!t.fp8()) return 0.0;
  // FP8 copy + transposed copy; with FP8 primary weights only the transposed copy is extra.
  // NVFP4: row- and column-wise 4-bit copies with their scales (no FP4 primary weights).
  if (t.fp8_recipe == Fp8Recipe::Nvfp4) return 2.0 * copy_bytes(t.fp8_recipe);
  return fp8_param_gather(t) ? 1.0 : 2.0;
}

double param_gather_bytes_per_param(const Training& t) {
  if (fp8_param_gather(t)) return 1.0;
  return t.mixed_precision() ? 2.0 : 4.0;
}

}  // namespace parplan::cost
