#include "parplan/cost/compute.hpp"

#include <algorithm>

#include "parplan/cost/attention.hpp"
#include "parplan/cost/context_parallel.hpp"
#include "parplan/cost/floors.hpp"
#include "parplan/cost/fp8.hpp"
#include "parplan/cost/framework.hpp"
#include "parplan/cost/host_overhead.hpp"
#include "parplan/cost/moe.hpp"
#include "elementwise.hpp"
#include "recompute_modules.hpp"

namespace parplan::cost {

double matmul_efficiency(const Efficiency& e, double m, double n, double k) {
  // Small dimensions leave tensor cores idle (tile quantisation and too few thread blocks);
  // g(x) = x / (x + x_half) per dimension is the smooth form of that roofline loss.
  auto g = [&](double x) { return x / (x + e.matmul_half_dim); };
  return e.matmul_max * g(m) * g(n) * g(k);
}

double matmul_time(const Cluster& c, DType t, double m, double n, double k, double batch) {
  const double flops = 2.0 * m * n * k * batch;
  // A power-capped GPU sustains a lower tensor-core clock (floors.cpp); the planner's inner loop
  // skips the generation lookup when there is no cap.
  const double clock = c.gpu.floors.power_limit_W > 0 ? gpu_floors(c.gpu).clock_scale : 1.0;
  return flops / (c.gpu.peak_flops(t) * clock * matmul_efficiency(c.efficiency, m, n, k));
}

double memory_bound_time(const Cluster& c, double bytes) {
  return bytes / (c.gpu.memory_bytes_per_s * c.efficiency.memory_bound);
}

LayerCompute layer_compute(const Model& m, const Cluster& c, const Training& t, const Layout& l) {
  const DType dt = compute_dtype(t), lin = linear_gemm_dtype(t);
  const double e = t.element_bytes();
  const double tp = double(l.tp);
  const double sq = double(t.seq_len) / double(l.cp);  // local queries
  const double skv = double(t.seq_len);                // keys each query attends to
  const double b = double(l.micro_batch);
  const double T = sq * b;  // tokens on this GPU per micro-batch
  const double h = double(m.hidden), f = double(m.ffn_hidden);
  const double heads_local = double(m.heads) / tp;
  // A MoE model's layer is the average of its dense and MoE layers (moe.cpp for the latter).
  const double moe_share = m.moe_layer_share();
  const MoeLayerWork moe = moe_share > 0 ? moe_layer_work(m, c, t, l) : MoeLayerWork{};

  LayerCompute r;
  // Matrix math (Megatron-LM column/row parallel split, Shoeybi et al. 2019). Memory-centric
  // tiling (Rajbhandari et al. 2021, ZeRO-Infinity sec. 5) runs each linear as `tiles` GEMMs,
  // one after another, split along the dimension TP splits: the same FLOPs at the smaller
  // shape's efficiency (MLA's replicated down-projections are not tiled).
  const double k = double(l.tiles);
  double dense_mlp = k * (matmul_time(c, lin, T, (m.gated_mlp ? 2 : 1) * f / tp / k, h)  // FC1
                          + matmul_time(c, lin, T, h, f / tp / k));                      // FC2
  double attn_mm = k > 1 && !m.mla.enabled()
                       ? k * attention_projection_time(m, c, lin, T, tp * k)
                       : attention_projection_time(m, c, lin, T, tp);
  double mm = attn_mm + (1 - moe_share) * dense_mlp + moe_share * moe.fwd_matmul_s;
  // Causal flash attention kernels skip the key blocks above the diagonal (Dao 2023,
  // FlashAttention-2 sec. 3.1.1; cuDNN and FA3 alike): of each query block's s/128 key blocks,
  // (1 + 128/s)/2 on average are computed. Model FLOPs keep the full square (Megatron's formula);
  // standard attention (baddbmm + softmax) computes the whole square.
  const double causal =
      t.flash_attention && m.sliding_window <= 0 ? 0.5 * (1.0 + 128.0 / std::max(skv, 128.0)) : 1.0;
  double core_mm = causal * attention_core_time(m, c, dt, sq, skv, b, tp);
  // A flash kernel with a published rate on this GPU generation (the framework's kernel:
  // FlashAttention-2 under PyTorch SDPA, cuDNN under Transformer Engine) runs the computed FLOPs
  // at that share of the peak instead of the GEMM shape model.
  const FrameworkBehaviour& fw = framework_behaviour(t);
  // Flash backward recomputes S = QK^T and runs dV, dP, dQ, dK: 5 GEMMs to the forward's 2
  // (Dao 2023, FlashAttention-2 sec. 3.1.2); standard attention's backward is twice its forward.
  double core_bwd = t.flash_attention ? 2.5 : 2.0;
  if (t.flash_attention) {
    const auto it = fw.attention_efficiency.find(c.gpu.generation);
    if (it != fw.attention_efficiency.end()) {
      core_mm = causal * b * attention_core_forward_flops(m, sq, skv) / tp /
                (c.gpu.peak_flops(dt) *
                 (c.gpu.floors.power_limit_W > 0 ? gpu_floors(c.gpu).clock_scale : 1.0) *
                 it->second);
      // The kernel's backward runs its FLOPs at its own published rate.
      const auto bw = fw.attention_bwd_efficiency.find(c.gpu.generation);
      if (bw != fw.attention_bwd_efficiency.end()) core_bwd *= it->second / bw->second;
    }
  }
  // The kernel's softmax exponentials run on the special function units (one per score forward,
  // and again in backward, which recomputes P = exp(S - L)). Flash kernels overlap one tile's
  // softmax with the other tile's MMAs (FlashAttention-3, Shah et al. 2024, sec. 3.1 ping-pong
  // scheduling; FlashAttention-4 and cuDNN on Blackwell alike): a pass takes the longer of the two.
  double core_fwd_s = core_mm, core_bwd_s = core_bwd * core_mm;
  if (t.flash_attention) {
    const double exps = causal * attention_exp_time(m, c, sq, skv, b, tp);
    core_fwd_s = std::max(core_fwd_s, exps);
    core_bwd_s = std::max(core_bwd_s, exps);
  }
  // Memory-bound bytes per forward (norms, dropout + residual adds, MLP activation, RoPE) as the
  // framework runs them, fused or eager (elementwise.cpp).
  const double elementwise = detail::layer_elementwise_bytes(m, t, l, T, 1 - moe_share);
  double softmax = 0;
  if (!t.flash_attention)  // fused scale-mask-softmax (read, write) + dropout (read, write, mask)
    softmax = b * heads_local * sq * attended_keys(m, skv) *
              (fw.softmax_accesses * e + fw.softmax_mask_bytes);  // or the framework's passes
  double mem = memory_bound_time(c, elementwise) + moe_share * moe.fwd_memory_s;
  // Ring CP: the framework's merges of partial outputs and gradient accumulations per ring step
  // (context_parallel.cpp), part of the attention core.
  const CpMerge cp_merge = cp_merge_time(m, c, t, l);
  double core_mem = memory_bound_time(c, softmax) + cp_merge.fwd_s;
  const Fp8CastBytes casts = fp8_cast_bytes(m, t, l);  // 0 without FP8
  const double cast_fwd = memory_bound_time(c, casts.fwd), cast_bwd = memory_bound_time(c, casts.bwd);

  r.fwd_matmul_s = mm + core_fwd_s;
  r.fwd_linear_s = mm;
  r.fwd_memory_s = mem + core_mem + cast_fwd;
  r.fwd_attention_core_s = core_fwd_s + core_mem;
  // Every kernel also costs the GPU a fixed floor (floors.cpp): the framework's kernels of the
  // layer times the generation's per-kernel device time.
  const LayerKernels kernels = layer_kernels(m, t, l);
  const LayerFloors floors = layer_floors(m, c, t, l);
  const double per_kernel = kernels.total() > 0 ? floors.device_s / kernels.total() : 0.0;
  r.kernels = floors.kernels;
  r.host_s = floors.host_s;
  r.host_fwd_s = floors.host_fwd_s;
  r.host_syncs = floors.host_syncs;
  r.floor_s = floors.device_s + floors.sync_s;
  r.fwd_s = r.fwd_matmul_s + r.fwd_memory_s + kernels.fwd * per_kernel + floors.sync_s +
            layer_op_overhead_fwd_s(m, c, t, l);  // host_overhead.cpp
  // Backward: data and weight gradients (2x the matmuls), and about twice the memory traffic.
  r.bwd_s = 2 * mm + core_bwd_s + 2 * (mem + core_mem - cp_merge.fwd_s) +
            cp_merge.bwd_s + cast_bwd +
            kernels.bwd * per_kernel + layer_op_overhead_bwd_s(m, c, t, l);  // host_overhead.cpp
  switch (l.recompute) {
    case Recompute::None: r.recompute_s = 0; break;
    case Recompute::Selective: {
      if (l.recompute_modules != 0) {  // Megatron-Core's modules (recompute_modules.cpp)
        detail::LayerForwardParts parts;
        parts.tokens = T;
        parts.attention_core_s = r.fwd_attention_core_s;
        parts.dense_mlp_s = dense_mlp;
        parts.moe = moe_share > 0 ? &moe : nullptr;
        r.recompute_s = detail::module_recompute_s(m, c, t, l, parts) + kernels.recompute * per_kernel;
        break;
      }
      // Megatron: the attention core (Korthikanti et al. 2022); torchtitan op-level SAC: every
      // second mm (all FP8 GEMMs) and the elementwise ops, the attention core saved.
      r.recompute_s = (fw.selective_recomputes_attention ? r.fwd_attention_core_s : 0.0) +
                      detail::selective_recompute_gemm_s(m, c, t, l, T, mm) +
                      (fw.selective_recomputes_elementwise ? mem + cast_fwd : 0.0) +
                      kernels.recompute * per_kernel;
      break;
    }
    case Recompute::Full: r.recompute_s = r.fwd_s; break;
  }
  if (l.recompute == Recompute::Full) r.floor_s += floors.sync_s;  // the forward's syncs again
  return r;
}

double embedding_time(const Model& m, const Cluster& c, const Training& t, const Layout& l) {
  const double e = t.element_bytes();
  const double T = double(t.seq_len) / double(l.cp) * double(l.micro_batch);
  const double h = double(m.hidden);
  // Gather rows (fwd), scatter-add their gradient into the table's gradient (bwd).
  // Its kernels' floors; the host issuing them may take longer than the GPU runs them.
  const EndFloors f = embedding_floors(c, t);
  return std::max(memory_bound_time(c, 2 * T * h * e + 2 * T * h * e) + f.device_s, f.host_s) +
         embedding_op_overhead_s(c, t, l);
}

double logits_time(const Model& m, const Cluster& c, const Training& t, const Layout& l) {
  const double T = double(t.seq_len) / double(l.cp) * double(l.micro_batch);
  const double h = double(m.hidden), v_local = double(m.vocab) / double(l.tp);
  const double mm = 3 * matmul_time(c, compute_dtype(t), T, v_local, h);  // BF16 under FP8 (TE)
  // Vocab-parallel cross-entropy in fp32: write logits, max/sum passes, gradient (Megatron-LM),
  // 16 bytes per logit; eager PyTorch runs it as separate ops (cast, log_softmax, nll_loss and
  // their backward: the framework's eager_elementwise.cross_entropy).
  const double ce_bytes = eager_elementwise(t) ? framework_behaviour(t).eager.cross_entropy : 16.0;
  const double ce = memory_bound_time(c, ce_bytes * T * v_local);
  const EndFloors f = head_floors(c, t);  // floors.cpp, as the embedding's
  return std::max(mm + ce + f.device_s, f.host_s) + head_op_overhead_s(c, t, l);
}

double optimizer_time(const Cluster& c, const Training& t, double params_updated) {
  // Adam reads and writes fp32 master weights, m and v (24 bytes), reads the gradient and writes
  // the 16-bit copy; SGD with momentum touches half of the state.
  const double grad = t.fp32_grad_accum || !t.mixed_precision() ? 4.0 : 2.0;
  const double state = t.optimizer == Optimizer::Adam ? 24.0 : 16.0;
  const double copy = t.mixed_precision() ? 2.0 : 0.0;
  return memory_bound_time(c, params_updated * (state + grad + copy));
}

}  // namespace parplan::cost
