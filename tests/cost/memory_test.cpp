#include <gtest/gtest.h>

#include <cmath>

#include "parplan/cost/memory.hpp"
#include "parplan/cost/flops.hpp"
#include "test_inputs.hpp"

using namespace parplan;
using namespace parplan::cost;

namespace {
double model_state(const MemoryBreakdown& m) { return m.params + m.grads + m.optimizer; }
}  // namespace

TEST(ZeroMemory, StagesMatchThePaperFormulasExactly) {
  // Rajbhandari et al. 2020, fig. 1: with Psi parameters, N_d data-parallel ranks and K = 12:
  // baseline (2 + 2 + K) Psi, P_os 4 Psi + K Psi / N_d, P_os+g 2 Psi + (2 + K) Psi / N_d,
  // P_os+g+p (2 + 2 + K) Psi / N_d.
  Model m = load_model("llama2-7b");
  Cluster c = test::a100();
  Training t = test::gpt3_train();
  const double psi = count_params(m).total, nd = 64;
  const double expected[4] = {16 * psi, 4 * psi + 12 * psi / nd, 2 * psi + 14 * psi / nd,
                              16 * psi / nd};
  for (int stage = 0; stage <= 3; ++stage) {
    Layout l;
    l.dp = int32_t(nd);
    l.zero = stage;
    EXPECT_NEAR(model_state(memory_per_gpu(m, c, t, l)) / expected[stage], 1.0, 1e-12)
        << "stage " << stage;
  }
}

TEST(ZeroMemory, EachStageNeedsNoMoreThanThePrevious) {
  Model m = test::gpt3();
  Cluster c = test::a100();
  Training t = test::gpt3_train();
  double prev = INFINITY;
  for (int stage = 0; stage <= 3; ++stage) {
    Layout l{.dp = 16, .tp = 8, .pp = 8, .zero = stage};
    const double total = memory_per_gpu(m, c, t, l).total;
    EXPECT_LE(total, prev) << "stage " << stage;
    prev = total;
  }
}

TEST(TensorParallelMemory, DoublingTpHalvesPerGpuParameterMemory) {
  Model m = test::gpt3();
  Cluster c = test::a100();
  Training t = test::gpt3_train();
  for (int tp : {1, 2, 4}) {
    Layout a{.dp = 1, .tp = tp, .pp = 8};
    Layout b{.dp = 1, .tp = 2 * tp, .pp = 8};
    const double ratio = memory_per_gpu(m, c, t, b, 3).params / memory_per_gpu(m, c, t, a, 3).params;
    // Only the norms are replicated, a 1e-4 share of a layer.
    EXPECT_NEAR(ratio, 0.5, 1e-3) << "tp " << tp;
  }
}

TEST(ActivationMemory, MatchesKorthikantiEquationsPerLayer) {
  // Korthikanti et al. 2022: no TP sbh(34 + 5as/h); TP sbh(10 + 24/t + 5as/(ht));
  // TP + SP + selective sbh * 34 / t; full recomputation 2 sbh.
  Model m = test::gpt3();
  Training t = test::gpt3_train();
  t.flash_attention = false;
  t.dtype = DType::FP16;
  const double s = double(t.seq_len), h = double(m.hidden), a = double(m.heads), b = 2;
  const double sbh = s * b * h;
  Layout l{.micro_batch = 2};
  EXPECT_DOUBLE_EQ(layer_activation_bytes(m, t, l), sbh * (34 + 5 * a * s / h));
  l.tp = 8;
  EXPECT_DOUBLE_EQ(layer_activation_bytes(m, t, l), sbh * (10 + 24.0 / 8 + 5 * a * s / (h * 8)));
  l.sequence_parallel = true;
  l.recompute = Recompute::Selective;
  EXPECT_DOUBLE_EQ(layer_activation_bytes(m, t, l), sbh * 34 / 8);
  l.sequence_parallel = false;
  l.recompute = Recompute::Full;
  EXPECT_DOUBLE_EQ(layer_activation_bytes(m, t, l), 2 * sbh);
}

TEST(ActivationMemory, RecomputationOrdersNoneAboveSelectiveAboveFull) {
  Model m = test::gpt3();
  Training t = test::gpt3_train();
  t.flash_attention = false;
  Layout l{.tp = 8, .pp = 8};
  l.recompute = Recompute::None;
  const double none = layer_activation_bytes(m, t, l);
  l.recompute = Recompute::Selective;
  const double sel = layer_activation_bytes(m, t, l);
  l.recompute = Recompute::Full;
  const double full = layer_activation_bytes(m, t, l);
  EXPECT_GT(none, sel);
  EXPECT_GT(sel, full);
}

TEST(ActivationMemory, ContextParallelDividesTheSequence) {
  Model m = load_model("llama3-70b");
  Training t = load_training("llama3-8k");
  Layout a{.tp = 8};
  Layout b{.tp = 8, .cp = 4};
  EXPECT_NEAR(layer_activation_bytes(m, t, b) / layer_activation_bytes(m, t, a), 0.25, 1e-12);
}

TEST(PipelineMemory, InFlightMicroBatchesFollowTheSchedule) {
  Layout l{.pp = 8};
  l.schedule = Schedule::GPipe;
  EXPECT_EQ(in_flight_microbatches(l, 64, 0), 64);
  l.schedule = Schedule::OneFOneB;
  EXPECT_EQ(in_flight_microbatches(l, 64, 0), 8);
  EXPECT_EQ(in_flight_microbatches(l, 64, 7), 1);
  l.schedule = Schedule::Interleaved;
  l.virtual_stages = 3;
  // Korthikanti et al. 2022 sec. 4.2.3: first stage holds p (1 + (p-1)/(p v)) micro-batches.
  EXPECT_NEAR(in_flight_microbatches(l, 64, 0), 8 * (1 + 7.0 / 24), 1e-12);
}

TEST(Offload, MovesOptimizerStateToTheHost) {
  Model m = load_model("llama2-7b");
  Cluster c = test::a100();
  Training t = test::gpt3_train();
  Layout on{.dp = 8, .zero = 2};
  Layout off = on;
  off.offload = Offload::Optimizer;
  auto a = memory_per_gpu(m, c, t, on), b = memory_per_gpu(m, c, t, off);
  EXPECT_EQ(b.optimizer, 0);
  EXPECT_NEAR(b.cpu_offload, a.optimizer + a.grads, 1);
  EXPECT_LT(b.total, a.total);
}

TEST(HostMemory, OffloadCountsHostRamPerNodeAndALayoutThatOverflowsItDoesNotFit) {
  // Llama 3 405B on one node of 8 H100s, ZeRO-3 with optimizer + parameter offload: every GPU
  // keeps (2 + 2 + 12) bytes x N / 8 of state in host RAM, the node 16 bytes x N, about 6.5 TB,
  // against the cluster file's 2 TiB.
  const Model m = load_model("llama3-405b");
  Cluster c = load_cluster("dgx-h100-80g");
  const Training t = load_training("llama3-8k");
  const Layout l{.dp = 8, .micro_batch = 1, .zero = 3, .recompute = Recompute::Full,
                 .offload = Offload::OptimizerAndParams};
  const MemoryBreakdown b = memory_per_gpu(m, c, t, l);
  const double n = count_params(m).total;
  EXPECT_NEAR(b.cpu_offload, 16.0 * n / 8, 0.01 * 16.0 * n / 8);
  EXPECT_NEAR(b.host_per_node, 8 * b.cpu_offload, 1);
  EXPECT_GT(b.host_per_node, 6e12);
  EXPECT_DOUBLE_EQ(b.host_capacity, 2048.0 * 1024 * 1024 * 1024);
  EXPECT_FALSE(b.fits_host);
  EXPECT_FALSE(b.fits);
  c.host.memory_bytes = 8e12;  // a host large enough
  EXPECT_TRUE(memory_per_gpu(m, c, t, l).fits_host);
  // ZeRO-Infinity to NVMe: the node's NVMe holds it; none in the cluster file means no room.
  Layout nv = l;
  nv.offload_device = OffloadDevice::Nvme;
  EXPECT_FALSE(memory_per_gpu(m, c, t, nv).fits_host);
  c.host.nvme_bytes = 30e12;
  const MemoryBreakdown v = memory_per_gpu(m, c, t, nv);
  EXPECT_NEAR(v.nvme_per_node, b.host_per_node, 1);
  EXPECT_TRUE(v.fits_host);
}
