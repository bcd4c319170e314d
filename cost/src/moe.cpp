#include "parplan/cost/moe.hpp"

#include <algorithm>
#include <cmath>

#include "parplan/cost/compute.hpp"
#include "parplan/cost/floors.hpp"
#include "parplan/cost/framework.hpp"
#include "parplan/cost/fp8.hpp"
#include "parplan/cost/host_overhead.hpp"
#include "parplan/cost/pipeline.hpp"

namespace parplan::cost {

namespace {
// Wang et al. 2024, "Auxiliary-Loss-Free Load Balancing Strategy for Mixture-of-Experts"
// (arXiv:2408.15664), sec. 4.2 Table 2, 3B model on 200B tokens: MaxVio_global (eq. 4: (max_i
// Load_i - mean Load) / mean Load over the validation set) is 0.52 with an auxiliary balancing
// loss (alpha 0.001) and 0.04 with loss-free (expert-bias) balancing, DeepSeek-V3's method
// (report sec. 2.1.2); the 1B model gives 0.72 and 0.04. Global over the validation set, it
// understates one batch's imbalance (the paper's MaxVio_batch, Figure 3, is higher) and
// overstates a rank's, which averages its experts.
constexpr double kImbalanceAuxLoss = 1.52;
constexpr double kImbalanceLossFree = 1.04;

double mats(const Model& m) { return m.gated_mlp ? 3.0 : 2.0; }

// GEMM output tile of the expert GEMMs: 128 x 128, the CTA tile of cuBLAS's and CUTLASS's
// Ampere and Hopper BF16 / FP8 kernels for these shapes (CUTLASS
// examples/57_hopper_grouped_gemm and 64_ada_fp8_gemm_grouped use 128-wide M and N tiles);
// split-K, which cuBLAS picks when a GEMM has fewer tiles than SMs, splits K into chunks of at
// least kSplitKMin.
constexpr double kTile = 128.0, kSplitKMin = 256.0;

// Tile waves: a GEMM of `tiles` output tiles on `sms` SMs runs ceil(tiles / sms) waves, the last
// one partly idle; the time is that of whole waves, a factor >= 1 over tiles / sms waves. A GEMM
// with fewer tiles than SMs is split along K (up to K / kSplitKMin ways) to fill them.
double wave_factor(double tiles, double k, double sms) {
  if (!(tiles > 0) || !(sms > 0)) return 1.0;
  const double splits = std::clamp(std::floor(sms / tiles), 1.0, std::max(1.0, std::floor(k / kSplitKMin)));
  const double t = tiles * splits;
  return std::ceil(t / sms) * sms / t;
}
double tiles(double m, double n) { return std::ceil(m / kTile) * std::ceil(n / kTile); }
double fc1_mats(const Model& m) { return m.gated_mlp ? 2.0 : 1.0; }
double expert_bias(const Model& m, double f) {
  return m.linear_bias ? fc1_mats(m) * f + double(m.hidden) : 0.0;
}
}  // namespace

double MoeLayerParams::active(const Model& m) const {
  return double(m.moe.experts_per_token) * one_expert + shared + router;
}

MoeLayerParams moe_layer_params(const Model& m) {
  MoeLayerParams p;
  if (!m.moe.enabled()) return p;
  const double h = double(m.hidden), fe = double(m.moe.expert_ffn_hidden);
  const double fs = double(m.moe.shared_expert_ffn_hidden), E = double(m.moe.experts);
  p.one_expert = mats(m) * h * fe + expert_bias(m, fe);
  p.routed = E * p.one_expert;
  p.shared = double(m.moe.shared_experts) * (mats(m) * h * fs + expert_bias(m, fs));
  p.router = h * E + (m.moe.router_bias ? E : 0.0);
  return p;
}

double moe_mlp_forward_flops(const Model& m, double tokens) {
  if (!m.moe.enabled()) return 0.0;
  const double h = double(m.hidden);
  const double routed = double(m.moe.experts_per_token) * mats(m) * h * double(m.moe.expert_ffn_hidden);
  const double shared = double(m.moe.shared_experts) * mats(m) * h * double(m.moe.shared_expert_ffn_hidden);
  const double router = h * double(m.moe.experts);
  return 2.0 * tokens * (routed + shared + router);
}

double load_imbalance(const Model& m) {
  if (m.moe.load_imbalance > 0) return m.moe.load_imbalance;
  return m.moe.router_bias ? kImbalanceLossFree : kImbalanceAuxLoss;
}

double expert_load_factor(const Model& m) {
  return m.moe.capacity_factor > 0 ? m.moe.capacity_factor : load_imbalance(m);
}

double dropped_token_fraction(const Model& m) {
  const double cf = m.moe.capacity_factor, imb = load_imbalance(m);
  if (cf <= 0 || cf >= imb) return 0.0;
  // Expert loads spread evenly between 2 - imb and imb (mean 1): the share above cf is dropped.
  const double lo = 2.0 - imb, width = imb - lo;
  if (width <= 0) return 0.0;
  const double over = imb - std::max(cf, lo);
  return over * over / (2.0 * width);
}

Group ep_group(const Layout& l, const Cluster& c) {
  const int64_t gpn = c.domain_gpus(), stride = l.etp, size = l.ep;  // NVLink domain
  const int64_t per_node = stride >= gpn ? 1 : std::clamp<int64_t>(gpn / stride, 1, size);
  return Group{size, per_node, gpn};
}

double all_to_all_time(double bytes, const Group& g, const Cluster& c) {
  if (g.size <= 1 || bytes <= 0) return 0.0;
  const LinkRates r = link_rates(c, g);
  const double n = double(g.size), k = double(std::min(g.per_node, g.size));
  const double intra = bytes * (k - 1) / n / r.intra_bytes_per_s;
  if (!g.spans_nodes()) return r.intra_latency_s + intra;
  const double inter = bytes * (n - k) / n / r.inter_bytes_per_s;
  return r.inter_latency_s + std::max(intra, inter);
}

namespace {
// One dispatch or combine of `tokens` tokens, each to experts_per_token experts, `row_bytes` per
// copy. Group-limited routing with a group per node (DeepSeek-V3 sec. 3.2.2, DeepEP) sends each
// token once to each destination node over InfiniBand and forwards it to the experts over NVLink;
// otherwise a plain all-to-all of every copy.
double moe_a2a_time(const Model& m, double tokens, double row_bytes, const Group& g,
                    const Cluster& c) {
  const double k = double(m.moe.experts_per_token);
  const double copies = tokens * k * row_bytes;
  if (!g.spans_nodes() || m.moe.groups_per_token <= 0) return all_to_all_time(copies, g, c);
  const LinkRates r = link_rates(c, g);
  const double nodes = double(g.size) / double(std::max<int64_t>(1, g.per_node));
  // Distinct nodes a token's k experts fall on (uniform routing), capped by the group limit.
  double d = nodes * (1.0 - std::pow(1.0 - 1.0 / nodes, k));
  const double per_group = nodes / double(std::max<int64_t>(1, m.moe.groups));
  d = std::min(d, double(m.moe.groups_per_token) * std::max(1.0, per_group));
  const double inter = tokens * d * (nodes - 1) / nodes * row_bytes / r.inter_bytes_per_s;
  const double intra = copies / r.intra_bytes_per_s;
  return r.inter_latency_s + std::max(inter, intra);
}
}  // namespace

MoeLayerWork moe_layer_work(const Model& m, const Cluster& c, const Training& t, const Layout& l) {
  MoeLayerWork w;
  if (!m.moe.enabled()) return w;
  const DType dt = t.dtype;
  const double e = t.element_bytes();
  const double T = double(t.seq_len) / double(l.cp) * double(l.micro_batch);
  const double tp = double(l.tp), etp = double(l.etp), ep = double(l.ep);
  const double h = double(m.hidden), k = double(m.moe.experts_per_token);
  const double E = double(m.moe.experts), fe = double(m.moe.expert_ffn_hidden);
  const double fs = double(m.moe.shared_experts) * double(m.moe.shared_expert_ffn_hidden);
  // Megatron-Core runs MoE layers on the sequence-parallel split: each TP rank routes T/tp tokens.
  // Summed over the stage's tp*cp*dp GPUs the work is conserved, so each GPU computes
  // T k / tp token-expert rows of full width, i.e. T k etp / tp rows of 1/etp of the FFN.
  const double tokens_rank = T / tp;
  w.rows = tokens_rank * k * etp;
  w.local_experts = E / ep;
  w.rows_per_expert = w.rows / w.local_experts;
  const double load = expert_load_factor(m);
  const double fe_local = fe / etp;
  // Grouped GEMM (CUTLASS grouped GEMM, Megatron --moe-grouped-gemm): one launch for all local
  // experts, but each expert's m is its own rows, so small experts lose to tile quantisation as
  // matmul_efficiency's g(m) describes.
  const double rpe = std::max(1.0, w.rows_per_expert);
  // Tile waves (wave_factor): a framework that runs one GEMM per local expert (its kernel
  // inventory counts GEMM kernels per expert: Megatron-Core's TE GroupedLinear, one cuBLAS GEMM per
  // expert) pays each expert's last partial wave; one grouped kernel (torch._grouped_mm,
  // CUTLASS grouped GEMM) schedules every expert's tiles together and pays one. The backward's
  // GEMMs take the forward's factor (compute.cpp: backward = 2 x the forward's GEMM time).
  const double sms = double(gpu_floors(c.gpu).sm_count);
  const bool per_expert = framework_behaviour(t).kernels.moe_per_expert_fwd > 0;
  const double n1 = fc1_mats(m) * fe_local, experts = per_expert ? 1.0 : w.local_experts;
  const double q1 = wave_factor(experts * tiles(rpe, n1), h, sms);
  const double q2 = wave_factor(experts * tiles(rpe, h), fe_local, sms);
  double routed = q1 * matmul_time(c, dt, rpe, n1, h, w.local_experts) +
                  q2 * matmul_time(c, dt, rpe, h, fe_local, w.local_experts);
  double shared = fs > 0 ? matmul_time(c, dt, T, fc1_mats(m) * fs / tp, h) +
                               matmul_time(c, dt, T, h, fs / tp)
                         : 0.0;
  double router = matmul_time(c, dt, tokens_rank, E, h);
  w.fwd_matmul_s = load * routed + shared + router;
  // Permute before dispatch and unpermute + weighted sum after combine: read + write of every
  // routed copy twice; the expert activation as in the dense MLP.
  const double copies = tokens_rank * k;
  const double act = load * w.rows * fe_local * (m.gated_mlp ? 3 * e : 2 * e);
  const double shared_act = fs > 0 ? T * fs / tp * (m.gated_mlp ? 3 * e : 2 * e) : 0.0;
  w.fwd_memory_s = memory_bound_time(c, 4.0 * copies * h * e + act + shared_act);
  w.act_memory_s = memory_bound_time(c, act);
  w.shared_fwd_s = shared + memory_bound_time(c, shared_act);
  // DeepSeek-V3 report sec. 3.3.2: with FP8 training the dispatched activations are FP8, the
  // combine stays BF16.
  const double dispatch_elem = t.fp8() ? 1.0 : e;
  w.dispatch_bytes = copies * h * dispatch_elem;
  w.combine_bytes = copies * h * e;
  const Group g = ep_group(l, c);
  w.dispatch_s = moe_a2a_time(m, tokens_rank, h * dispatch_elem, g, c);
  w.combine_s = moe_a2a_time(m, tokens_rank, h * e, g, c);
  // Fixed cost per peer exchange (host_overhead.cpp); the dispatch also exchanges the counts.
  const double call = call_overhead_s(Collective::AllToAll, g.size, c);
  w.dispatch_s += 2 * call, w.combine_s += call;
  return w;
}

double moe_mlp_activation_bytes(const Model& m, const Training& t, const Layout& l) {
  if (!m.moe.enabled()) return 0.0;
  const double e = t.element_bytes();
  const double T = double(t.seq_len) / double(l.cp) * double(l.micro_batch);
  const double tp = double(l.tp), etp = double(l.etp);
  const double h = double(m.hidden), k = double(m.moe.experts_per_token);
  const double E = double(m.moe.experts), fe_local = double(m.moe.expert_ffn_hidden) / etp;
  const double fs = double(m.moe.shared_experts) * double(m.moe.shared_expert_ffn_hidden);
  const double tokens_rank = T / tp;
  const double rows = tokens_rank * k * etp * expert_load_factor(m);
  // Per routed row: the permuted input (h), FC1 output(s) and activation output (1/etp of the
  // FFN), and the expert output before combine (h) where the combine weighs it by the router's
  // probabilities (framework.hpp Saved::moe_expert_output). Router: fp32 logits and probabilities.
  // Under FP8 the two expert GEMM inputs (permuted input, activation output) are saved as their
  // FP8 copies, as the dense layer's (fp8.cpp; DeepSeek-V3 report sec. 3.3.2, TE grouped linear).
  const double in = saved_gemm_input_bytes(t);
  const double out = framework_behaviour(t).saved.moe_expert_output;
  // Per-module recomputation (Layout::recompute_modules; Megatron-LM@b0cc270): "moe" checkpoints
  // the whole MoE layer (moe_layer.py l.432, tensor_parallel.checkpoint: only its input, the
  // pre-MLP norm output counted with the layer, stays); "moe_act" discards the activation output
  // saved for FC2 on the routed rows (experts.py l.738-750, CheckpointWithoutOutput; FC2 saves
  // the original input under FP8, l.592-595, so no FP8 copy stays either); "shared_experts"
  // checkpoints the shared experts (shared_experts.py l.74-78, moe_layer.py l.294).
  const uint8_t rc = recomputed_modules(l);
  if (rc & kRecomputeMoe) return 0.0;
  const double act_out = (rc & kRecomputeMoeAct) ? 0.0 : in * fe_local;
  double bytes = rows * (in * h + out * e * h + e * fc1_mats(m) * fe_local + act_out);
  bytes += tokens_rank * E * 2.0 * 4.0;
  if (fs > 0 && !(rc & kRecomputeSharedExperts))
    bytes += T * e * (fc1_mats(m) * fs + fs) / tp;  // shared experts: as a dense MLP
  return bytes;
}

EpComm ep_comm(const Model& m, const Cluster& c, const Training& t, const Layout& l,
               const LayerCompute& layer) {
  EpComm r;
  if (!m.is_moe() || l.ep <= 1) return r;
  const double share = m.moe_layer_share();
  const MoeLayerWork w = moe_layer_work(m, c, t, l);
  const double pair = w.dispatch_s + w.combine_s;
  r.fwd_s = share * pair;
  r.bwd_s = share * 2.0 * w.combine_s;  // gradients of combine and dispatch, both 16-bit
  // Recomputing the MoE layer (full, or Megatron-Core's "moe" module) dispatches and combines
  // again in backward (moe_layer.py@b0cc270 l.432: the checkpoint covers the dispatcher).
  if (l.recompute == Recompute::Full || recomputes(l, kRecomputeMoe)) r.bwd_s += r.fwd_s;
  // DualPipe / DualPipeV overlap it with the paired chunk's compute (pipeline.hpp).
  if (!moe_a2a_overlapped(t) && !overlaps_ep_comm(l.schedule)) {
    r.fwd_exposed_s = r.fwd_s;
    r.bwd_exposed_s = r.bwd_s;
    return r;
  }
  const double slow = c.efficiency.overlap_slowdown;
  auto exposed = [slow](double comm, double compute) {
    return std::max(0.0, comm - compute) + slow * std::min(comm, compute);
  };
  r.fwd_exposed_s = exposed(r.fwd_s, layer.fwd_s);
  r.bwd_exposed_s = exposed(r.bwd_s, layer.bwd_s + layer.recompute_s);
  return r;
}

bool moe_a2a_overlapped(const Training& t) { return t.moe_a2a_overlap == Switch::On; }

}  // namespace parplan::cost
