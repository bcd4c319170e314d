// Fixed costs per kernel, per collective call and per layer (floors.hpp, docs/cost-model.md
// "Floors").
#include "parplan/cost/floors.hpp"

#include <algorithm>
#include <cmath>

#include "parplan/cost/fp8.hpp"
#include "parplan/cost/framework.hpp"
#include "recompute_modules.hpp"

namespace parplan::cost {

namespace {
struct GenerationFloors {
  double launch_us, device_us;
  int64_t sms;
  double tdp_W;
  double exp_per_s;
};
// Per generation:
// - launch: host time of one cudaLaunchKernel when the host runs ahead of the GPU. NVIDIA
//   Technical Blog, A. Gray, "Getting Started with CUDA Graphs" (2019): a stream of short kernels
//   costs ~3.8 us each with overlapped launches against ~2.9 us of kernel time alone, and the
//   launch path itself is 2-4 us on server CPUs; 3 us.
// - device: a kernel's cost on the GPU beyond its FLOPs and bytes (ramp-up, the tail of its last
//   wave, the gap to the next kernel): the same blog's 3.8 - 2.9 us gap plus the ramp of a short
//   kernel, ~2 us; Hopper's faster launch path (CUDA 12) ~1.5 us.
// - SMs: A100 108, H100 SXM 132, B200 148 (NVIDIA architecture whitepapers); TDP: A100 SXM 400 W,
//   H100 SXM 700 W, B200 1000 W (datasheets).
// - exp: the SFU's exponentials per second (MUFU.EX2, 16 per SM and clock on sm_80 / sm_90 /
//   sm_100, CUDA C++ Programming Guide "Arithmetic Instructions" throughput table): A100
//   108 x 16 x 1.41 GHz = 2.4e12; H100 SXM 3.9e12 (Shah et al. 2024, FlashAttention-3,
//   arXiv:2407.08608 sec. 3: "989 TFLOPS of FP16 matmul but only 3.9 TFLOPS of special
//   functions"); Blackwell 5e12 (NVIDIA Technical Blog, "Inside NVIDIA Blackwell Ultra" 2025,
//   Table 2 "Attention acceleration (SFU EX2)": Blackwell 5, Blackwell Ultra 10.7
//   TeraExponentials/s; Blackwell Ultra's doubled SFU is the cluster file's gpu.exp_Tps).
GenerationFloors prior_floors(const Gpu& g) {
  const std::string gen = gpu_generation(g);
  if (gen == "hopper") return {3.0, 1.5, 132, 700, 3.9e12};
  if (gen == "blackwell") return {3.0, 1.5, 148, 1000, 5e12};
  if (gen == "ampere") return {3.0, 2.0, 108, 400, 2.4e12};
  return {0.0, 0.0, 0, 0, 0};  // CPU and unknown: gpu.op_overhead_us models the host instead
}
// The priors as the corpus fit moved them (examples/calibration/efficiency.json), read once per
// generation: the search calls this for every layout.
GenerationFloors calibrated(const GenerationFloors& p, const char* gen) {
  return {calibrated_default(gen, "kernel_launch_us", p.launch_us),
          calibrated_default(gen, "kernel_device_us", p.device_us), p.sms, p.tdp_W, p.exp_per_s};
}
GenerationFloors generation_floors(const Gpu& g) {
  const GenerationFloors p = prior_floors(g);
  if (p.sms == 0) return p;
  if (p.sms == 132) {
    static const GenerationFloors hopper = calibrated(p, "hopper");
    return hopper;
  }
  if (p.sms == 148) {
    static const GenerationFloors blackwell = calibrated(p, "blackwell");
    return blackwell;
  }
  static const GenerationFloors ampere = calibrated(p, "ampere");
  return ampere;
}

double count(double eager, double compiled, bool use_compiled) {
  return use_compiled && compiled >= 0 ? compiled : eager;
}

// Parameter tensors of one layer as Megatron-Core builds it with Transformer Engine (the
// framework's host.param_hooks run once per tensor and micro-batch): attention's QKV (or MLA's
// projections), output projection, the norms (TE fuses the input norm into linear_qkv as its own
// layer_norm_weight tensor), Q / K norms, biases; a dense MLP's FC1 and FC2 (+ the fused pre-MLP
// norm); a MoE layer's pre-MLP norm, router, shared expert's FC1 and FC2, and one FC1 and one FC2
// weight per local expert (TE GroupedLinear registers weight0..weightN-1: Megatron-LM@b0cc270
// experts.py TEGroupedMLP, TE v2.10 grouped_linear.py GroupedLinear.__init__).
double layer_param_tensors(const Model& m, const Layout& l, bool moe_layer) {
  const double norm = m.norm == Norm::LayerNorm && m.norm_bias ? 2.0 : 1.0;
  double n = 0;
  if (m.mla.enabled())
    n += (m.mla.q_lora_rank > 0 ? 3.0 : 1.0) + 3.0 + 1.0 + norm;  // q down/up(+norm), kv, proj
  else
    n += 2.0 + norm + (m.qkv_bias ? 1.0 : 0.0) + (m.linear_bias ? 1.0 : 0.0) +
         (m.qk_norm ? 2.0 : 0.0);  // linear_qkv (+ its norm, bias), linear_proj (+ bias)
  const double mlp_bias = m.linear_bias ? 2.0 : 0.0;
  if (!moe_layer) return n + norm + 2.0 + mlp_bias;  // linear_fc1's norm, fc1, fc2
  const double local = double(m.moe.experts) / double(std::max<int32_t>(1, l.ep));
  n += norm + 1.0 + (m.moe.router_bias ? 1.0 : 0.0) + local * (2.0 + mlp_bias);
  if (m.moe.shared_experts > 0) n += 2.0 + mlp_bias;
  return n;
}
}  // namespace

double power_clock_scale(double tdp_W, double power_limit_W) {
  if (!(tdp_W > 0) || !(power_limit_W > 0) || power_limit_W >= tdp_W) return 1.0;
  return std::cbrt(power_limit_W / tdp_W);
}

double prior_kernel_launch_s(const Gpu& g) { return prior_floors(g).launch_us * 1e-6; }
double prior_kernel_device_s(const Gpu& g) { return prior_floors(g).device_us * 1e-6; }

double shipped_expert_loop_s() {
  static const double v = calibrated_default("*", "expert_loop_us", 0.0) * 1e-6;
  return v;
}
double expert_loop_s(const Gpu& g, const Training& t) {
  const FrameworkBehaviour& fw = framework_behaviour(t);
  if (!(fw.host.expert_loop_s > 0) || !(fw.host.expert_loop_calls > 0)) return 0.0;
  if (g.floors.expert_loop_s >= 0) return g.floors.expert_loop_s;
  const double fitted = shipped_expert_loop_s();
  return fitted > 0 ? fitted : fw.host.expert_loop_s;
}

double shipped_module_call_s() {
  static const double v = calibrated_default("*", "module_call_us", 0.0) * 1e-6;
  return v;
}
double module_call_s(const Gpu& g, const Training& t) {
  const FrameworkBehaviour& fw = framework_behaviour(t);
  if (!(fw.host.module_call_s > 0)) return 0.0;
  if (g.floors.module_call_s >= 0) return g.floors.module_call_s;
  const double fitted = shipped_module_call_s();
  return fitted > 0 ? fitted : fw.host.module_call_s;
}

std::vector<std::string> unpriced_graph_scopes(const Training& t) {
  const auto& priced = framework_behaviour(t).kernels.graph_scopes;
  std::vector<std::string> out;
  for (const auto& scope : t.cuda_graph_scope)
    if (std::none_of(priced.begin(), priced.end(), [&](const auto& p) { return p.first == scope; }))
      out.push_back(scope);
  return out;
}

GpuFloors gpu_floors(const Gpu& g) {
  const GenerationFloors d = generation_floors(g);
  const Gpu::Floors& f = g.floors;
  GpuFloors r;
  r.kernel_launch_s = f.kernel_launch_s >= 0 ? f.kernel_launch_s : d.launch_us * 1e-6;
  r.kernel_device_s = f.kernel_device_s >= 0 ? f.kernel_device_s : d.device_us * 1e-6;
  r.sm_count = f.sm_count > 0 ? f.sm_count : d.sms;
  r.clock_scale = power_clock_scale(f.tdp_W > 0 ? f.tdp_W : d.tdp_W, f.power_limit_W);
  r.exp_per_s = f.exp_per_s > 0 ? f.exp_per_s : d.exp_per_s;
  return r;
}

LayerKernels layer_kernels(const Model& m, const Training& t, const Layout& l) {
  const FrameworkBehaviour& fw = framework_behaviour(t);
  const auto& k = fw.kernels;
  const bool compiled = resolve(t.compile, fw.compile);
  LayerKernels r;
  r.fwd = count(k.dense_fwd, k.compiled_fwd, compiled);
  r.bwd = count(k.dense_bwd, k.compiled_bwd, compiled);
  // Linear layers: QKV, attention output, FC1, FC2 (gated MLPs fuse or add one GEMM: counted in
  // the framework's dense layer); memory-centric tiling runs each as `tiles` GEMMs, and backward
  // runs two GEMMs per forward GEMM.
  const double linears = 4.0;
  r.fwd += linears * double(l.tiles - 1);
  r.bwd += 2.0 * linears * double(l.tiles - 1);
  if (l.tp > 1) {
    // step.cpp: 2 collectives per pass without SP, 4 with, and SP re-gathers 2 in backward.
    const double per_pass = l.sequence_parallel ? 4.0 : 2.0;
    r.fwd += per_pass * k.per_tp_collective;
    r.bwd += (per_pass + (l.sequence_parallel ? 2.0 : 0.0)) * k.per_tp_collective;
  }
  if (l.cp > 1) {
    r.fwd += double(l.cp - 1) * k.per_cp_step;
    r.bwd += 2.0 * double(l.cp - 1) * k.per_cp_step;
  }
  if (t.fp8()) {
    const double cur = t.fp8_recipe == Fp8Recipe::Current ? k.fp8_current_per_linear : 0.0;
    const double nvfp4 = nvfp4_cast_kernels_per_linear(t);  // fp8.cpp
    r.fwd += linears * (k.fp8_fwd_per_linear + cur + nvfp4);
    r.bwd += linears * (k.fp8_bwd_per_linear + cur + nvfp4);
  }
  if (m.is_moe()) {
    const double share = m.moe_layer_share();
    const double local = double(m.moe.experts) / double(std::max<int32_t>(1, l.ep));
    const double fp8_fwd = t.fp8() ? k.moe_fp8_per_expert_fwd : 0.0;
    const double fp8_bwd = t.fp8() ? k.moe_fp8_per_expert_bwd : 0.0;
    r.fwd += share * (k.moe_fwd + local * (k.moe_per_expert_fwd + fp8_fwd));
    r.bwd += share * (k.moe_bwd + local * (k.moe_per_expert_bwd + fp8_bwd));
    r.host_syncs = share * k.moe_host_syncs;
  }
  switch (l.recompute) {
    case Recompute::None: break;
    case Recompute::Selective:
      r.recompute = l.recompute_modules != 0
                        ? detail::module_recompute_kernels(m, t, l, k.selective_recompute)
                        : k.selective_recompute;
      break;
    case Recompute::Full: r.recompute = r.fwd; break;
  }
  return r;
}

LayerFloors layer_floors(const Model& m, const Cluster& c, const Training& t, const Layout& l) {
  LayerFloors r;
  const GpuFloors g = gpu_floors(c.gpu);
  if (g.kernel_launch_s <= 0 && g.kernel_device_s <= 0) return r;
  const FrameworkBehaviour& fw = framework_behaviour(t);
  const LayerKernels k = layer_kernels(m, t, l);
  r.kernels = k.total();
  r.device_s = r.kernels * g.kernel_device_s;
  if (fw.host.cuda_graphs) {
    // One graph launch per layer and pass (forward, backward, recomputation).
    r.host_s = (l.recompute == Recompute::None ? 2.0 : 3.0) * g.kernel_launch_s;
    r.host_fwd_s = g.kernel_launch_s;
  } else {
    const double fwd = g.kernel_launch_s + fw.host.dispatch_fwd_s;
    const double bwd = g.kernel_launch_s + fw.host.dispatch_bwd_s;
    const double share = m.moe_layer_share();
    // Python module / autograd-Function calls (TE modules, the dispatcher's Functions), each
    // beyond the kernels it launches; and the CUDA-graph scopes the run captured (Megatron-Core
    // --cuda-graph-scope): their kernels and module calls leave the host, one graph launch per
    // pass replaces them.
    const double call = module_call_s(c.gpu, t);
    double kf = k.fwd, kb = k.bwd;
    double mf = fw.kernels.modules_fwd + share * fw.kernels.moe_modules_fwd;
    double mb = fw.kernels.modules_bwd + share * fw.kernels.moe_modules_bwd;
    double graphs = 0;
    for (const auto& scope : t.cuda_graph_scope)
      for (const auto& [name, gs] : fw.kernels.graph_scopes) {
        if (name != scope) continue;
        const double w = gs.moe ? share : 1.0;
        kf -= w * gs.fwd, kb -= w * gs.bwd;
        mf -= w * gs.modules_fwd, mb -= w * gs.modules_bwd;
        graphs += w;
      }
    kf = std::max(0.0, kf) + graphs, kb = std::max(0.0, kb) + graphs;
    const double host_fwd = kf * fwd + std::max(0.0, mf) * call;
    const double host_bwd = kb * bwd + std::max(0.0, mb) * call;
    const double recompute =
        l.recompute == Recompute::Full ? host_fwd : k.recompute * fwd;
    r.host_s = host_fwd + recompute + host_bwd;
    r.host_fwd_s = host_fwd;
    // The framework's Python loop over the local experts around each grouped GEMM (quantized
    // splits, weight workspaces, saved tensors, GEMM operands, wgrad buffers per expert: TE
    // GroupedLinear), its items per call and pass; full recomputation reruns the forward's.
    const double loop = expert_loop_s(c.gpu, t);
    if (m.is_moe() && loop > 0) {
      const double share = m.moe_layer_share();
      const double local = double(m.moe.experts) / double(std::max<int32_t>(1, l.ep));
      const auto& h = fw.host;
      const double items_fwd = t.fp8() ? h.expert_loop_items_fwd : h.expert_loop_items_fwd_16bit;
      const double items_bwd = t.fp8() ? h.expert_loop_items_bwd : h.expert_loop_items_bwd_16bit;
      const double per_call = share * local * h.expert_loop_calls * loop;
      const double fwd = per_call * items_fwd, bwd = per_call * items_bwd;
      r.host_fwd_s += fwd;
      r.host_s += fwd * (l.recompute == Recompute::Full ? 2.0 : 1.0) + bwd;
    }
    // The data-parallel wrapper's hooks per parameter tensor and micro-batch (host.param_hooks):
    // in backward the autograd engine's AccumulateGrad node (an engine node without a kernel,
    // dispatch_bwd) and the Python post-hook on it (dispatch_fwd); in forward, when parameters
    // are gathered overlapped (distributed optimizer), a pre-hook per module that checks each of
    // its parameters' gathers (a Python call without an operator: dispatch_bwd).
    if (fw.host.param_hooks) {
      const double moe_share = m.moe_layer_share();
      const double tensors = (1.0 - moe_share) * layer_param_tensors(m, l, false) +
                             moe_share * layer_param_tensors(m, l, true);
      const bool gather = l.zero >= 1 && resolve(t.overlap_param_gather, fw.overlap_param_gather);
      const double hooks_fwd = gather ? tensors * fw.host.dispatch_bwd_s : 0.0;
      const double hooks_bwd = tensors * (fw.host.dispatch_bwd_s + fw.host.dispatch_fwd_s);
      r.host_fwd_s += hooks_fwd;
      r.host_s += hooks_fwd * (l.recompute == Recompute::Full ? 2.0 : 1.0) + hooks_bwd;
    }
  }
  r.host_syncs = k.host_syncs;
  // A device-to-host sync drains the GPU's queue: the next kernel starts a launch later.
  r.sync_s = k.host_syncs * (g.kernel_launch_s + fw.host.dispatch_fwd_s);
  return r;
}

double collective_host_s(const Cluster& c, const Training& t) {
  const GpuFloors g = gpu_floors(c.gpu);
  if (g.kernel_launch_s <= 0) return 0.0;
  const FrameworkBehaviour& fw = framework_behaviour(t);
  return fw.host.cuda_graphs ? 0.0 : g.kernel_launch_s + fw.host.collective_s;
}

namespace {
EndFloors end_floors(const Cluster& c, const Training& t, double fwd_kernels) {
  EndFloors r;
  const GpuFloors g = gpu_floors(c.gpu);
  const FrameworkBehaviour& fw = framework_behaviour(t);
  // Backward runs about two kernels per forward kernel (gradient and its accumulation).
  r.device_s = 3.0 * fwd_kernels * g.kernel_device_s;
  if (g.kernel_launch_s > 0 && !fw.host.cuda_graphs)
    r.host_s = fwd_kernels * (g.kernel_launch_s + fw.host.dispatch_fwd_s) +
               2.0 * fwd_kernels * (g.kernel_launch_s + fw.host.dispatch_bwd_s);
  return r;
}
}  // namespace

EndFloors embedding_floors(const Cluster& c, const Training& t) {
  return end_floors(c, t, framework_behaviour(t).kernels.embedding);
}
EndFloors head_floors(const Cluster& c, const Training& t) {
  return end_floors(c, t, framework_behaviour(t).kernels.head);
}

}  // namespace parplan::cost
