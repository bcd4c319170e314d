#pragma once
// Compute time as a roofline: matrix math at a calibrated, shape-dependent fraction of peak;
// memory-bound ops at a fraction of HBM bandwidth.
#include "parplan/model/cluster.hpp"
#include "parplan/model/layout.hpp"
#include "parplan/model/model.hpp"
#include "parplan/model/training.hpp"

namespace parplan::cost {

// Fraction of peak a GEMM of shape (m x k) * (k x n) reaches.
double matmul_efficiency(const Efficiency& e, double m, double n, double k);
// Seconds for `batch` GEMMs of that shape (2 m n k FLOPs each) in the training dtype.
double matmul_time(const Cluster& c, DType t, double m, double n, double k, double batch = 1);
// Seconds to stream `bytes` through HBM for memory-bound ops.
double memory_bound_time(const Cluster& c, double bytes);

// One transformer layer, one micro-batch, one GPU (its tp/cp shard), no communication.
struct LayerCompute {
  double fwd_matmul_s = 0;
  double fwd_linear_s = 0;      // of it, the linear layers' GEMMs (next to the TP collectives)
  double fwd_memory_s = 0;      // layernorm, softmax, GELU, dropout, residual adds
  double fwd_attention_core_s = 0;  // QK^T, softmax, AV part of fwd (recomputed by "selective")
  double fwd_s = 0;             // fwd_matmul_s + fwd_memory_s
  double bwd_s = 0;             // 2x matmuls + memory-bound backward
  double recompute_s = 0;       // forward work redone in backward (by recomputation mode)
  // Fixed costs (floors.hpp), fwd + bwd + recompute: the kernels, their device floors (inside
  // fwd_s, bwd_s and recompute_s above) and the host time to dispatch and launch them.
  double kernels = 0;
  double floor_s = 0;
  double host_s = 0;
  double host_fwd_s = 0;  // of host_s, the forward's
  double host_syncs = 0;  // device-to-host syncs per forward (MoE dispatcher split sizes)
};
LayerCompute layer_compute(const Model& m, const Cluster& c, const Training& t, const Layout& l);

// Embedding lookup (first stage) and logits + cross-entropy (last stage), fwd + bwd seconds for
// one micro-batch.
double embedding_time(const Model& m, const Cluster& c, const Training& t, const Layout& l);
double logits_time(const Model& m, const Cluster& c, const Training& t, const Layout& l);

// Optimizer step on the parameters this GPU updates (memory-bound Adam).
double optimizer_time(const Cluster& c, const Training& t, double params_updated);

}  // namespace parplan::cost
