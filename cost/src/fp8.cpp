// FP8 training: which GEMMs run in FP8, the casts and scales it adds, the weight copies it keeps.
#include "parplan/cost/fp8.hpp"

#include <algorithm>

#include "parplan/cost/pipeline.hpp"

namespace parplan::cost {

namespace {
// Scale bytes per element a recipe writes next to each FP8 copy: per-tensor recipes one fp32 per
// tensor (nothing per element); DeepSeek-V3 sec. 3.3.2 blockwise: one fp32 per 1x128 tile;
// MXFP8 (OCP Microscaling spec v1.0): one E8M0 byte per 32 elements.
double scale_bytes_per_element(Fp8Recipe r) {
  switch (r) {
    case Fp8Recipe::Delayed:
    case Fp8Recipe::Current: return 0.0;
    case Fp8Recipe::Blockwise: return 4.0 / 128.0;
    case Fp8Recipe::Mxfp8: return 1.0 / 32.0;
  }
  return 0.0;
}

// Bytes one cast of a 16-bit tensor to FP8 moves per element: read it (e), write the FP8 copy and
// the transposed FP8 copy the other GEMM operand layout needs (TE's fused cast-transpose: Hopper's
// FP8 tensor cores take only the TN layout; MXFP8 needs row- and column-wise scaled copies), with
// their scales. Current scaling reads the tensor once more for its amax before casting (TE
// Float8CurrentScaling); delayed scaling takes the scale from the amax history and blockwise /
// MXFP8 compute the block's amax inside the cast kernel.
double cast_bytes_per_element(const Training& t) {
  const double e = 2.0;  // FP8 runs keep tensors in BF16 between GEMMs
  double b = e + 2.0 * (1.0 + scale_bytes_per_element(t.fp8_recipe));
  if (t.fp8_recipe == Fp8Recipe::Current) b += e;
  return b;
}
}  // namespace

DType linear_gemm_dtype(const Training& t) { return t.dtype; }

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
  const double weight_bytes = 2.0 + 2.0 * (1.0 + scale_bytes_per_element(t.fp8_recipe));
  const double per_mb = l.zero >= 3 ? 1.0 : double(std::max<int64_t>(1, micro_batches(t, l)));
  r.fwd = inputs * per + weights * weight_bytes / per_mb;
  r.bwd = grads * per;
  return r;
}

double saved_gemm_input_bytes(const Training& t) {
  // TE's Linear / LayerNormLinear save the FP8-cast input for the weight gradient.
  return t.fp8() ? 1.0 : double(t.element_bytes());
}

bool fp8_param_gather(const Training& t) {
  return t.fp8() && t.fp8_param_gather == Switch::On;
}

double fp8_weight_copy_bytes(const Training& t) {
  if (!t.fp8()) return 0.0;
  // FP8 copy + transposed copy; with FP8 primary weights only the transposed copy is extra.
  return fp8_param_gather(t) ? 1.0 : 2.0;
}

double param_gather_bytes_per_param(const Training& t) {
  if (fp8_param_gather(t)) return 1.0;
  return t.mixed_precision() ? 2.0 : 4.0;
}

}  // namespace parplan::cost
