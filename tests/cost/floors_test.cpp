// Fixed costs (cost/floors.hpp): per-kernel host and device floors, per-call collective floors,
// the power-capped clock, and what they do to a small model where the work per kernel is small.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>

#include "parplan/cost/collectives.hpp"
#include "parplan/cost/compute.hpp"
#include "parplan/cost/floors.hpp"
#include "parplan/cost/framework.hpp"
#include "parplan/cost/step.hpp"
#include "test_inputs.hpp"

using namespace parplan;
using namespace parplan::cost;

namespace {
// The small GPT: hidden 1,024, 16 layers, sequence 1,024 (GPT-2 medium's width).
Model small_gpt() {
  Model m;
  m.name = "gpt-1024x16";
  m.layers = 16, m.hidden = 1024, m.heads = 16, m.kv_heads = 16, m.ffn_hidden = 4096;
  m.vocab = 50257, m.max_seq_len = 1024;
  return m;
}
Training small_train() {
  Training t;
  t.global_batch = 64, t.seq_len = 1024, t.dtype = DType::BF16;
  t.framework = "megatron-deepspeed";
  return t;
}
Layout split(int32_t tp) {
  Layout l;
  l.tp = tp, l.dp = 8 / tp, l.micro_batch = 1;
  return l;
}
// The same cluster without any floor: no launch, no device floor.
Cluster no_floors(Cluster c) {
  c.gpu.floors.kernel_launch_s = 0;
  c.gpu.floors.kernel_device_s = 0;
  return c;
}
// A framework file: megatron-core's behaviours with the host's per-kernel dispatch scaled.
std::string framework_file(double dispatch_scale) {
  const std::string path = ::testing::TempDir() + "/floors_fw_" +
                           std::to_string(int(dispatch_scale * 100)) + ".json";
  Training t;
  const FrameworkBehaviour& mc = framework_behaviour(t);
  nlohmann::json j = {
      {"name", "mc-scaled"},
      {"kernels", {{"dense_layer", {{"fwd", mc.kernels.dense_fwd}, {"bwd", mc.kernels.dense_bwd}}},
                   {"embedding", mc.kernels.embedding},
                   {"head", mc.kernels.head}}},
      {"host",
       {{"dispatch_fwd_us", mc.host.dispatch_fwd_s * 1e6 * dispatch_scale},
        {"dispatch_bwd_us", mc.host.dispatch_bwd_s * 1e6 * dispatch_scale},
        {"collective_us", mc.host.collective_s * 1e6}}}};
  std::ofstream(path) << j.dump();
  return path;
}
}  // namespace

TEST(Floors, GenerationDefaultsAndClusterOverrides) {
  Cluster c = test::a100();
  const GpuFloors d = gpu_floors(c.gpu);
  EXPECT_GT(d.kernel_launch_s, 1e-6);
  EXPECT_GT(d.kernel_device_s, 0.5e-6);
  EXPECT_EQ(d.sm_count, 108);
  EXPECT_DOUBLE_EQ(d.clock_scale, 1.0);  // no power cap
  c.gpu.floors.kernel_launch_s = 7e-6;
  EXPECT_DOUBLE_EQ(gpu_floors(c.gpu).kernel_launch_s, 7e-6);
  // The CPU cluster has no GPU floors: its host costs are gpu.op_overhead_us (host_overhead.cpp).
  const GpuFloors cpu = gpu_floors(load_cluster("cpu-host").gpu);
  EXPECT_EQ(cpu.kernel_launch_s, 0.0);
  EXPECT_EQ(cpu.kernel_device_s, 0.0);
}

TEST(Floors, PowerCapLowersTheTensorCoreClockByTheCubeRoot) {
  EXPECT_DOUBLE_EQ(power_clock_scale(700, 0), 1.0);
  EXPECT_DOUBLE_EQ(power_clock_scale(700, 800), 1.0);
  EXPECT_NEAR(power_clock_scale(700, 500), std::cbrt(500.0 / 700.0), 1e-12);
  Cluster c = load_cluster("dgx-h100-80g");
  const double full = matmul_time(c, DType::BF16, 8192, 8192, 8192);
  const double hbm = memory_bound_time(c, 1e9);
  c.gpu.floors.power_limit_W = 500;
  EXPECT_NEAR(matmul_time(c, DType::BF16, 8192, 8192, 8192) / full, 1.0 / std::cbrt(500.0 / 700.0),
              1e-9);
  EXPECT_DOUBLE_EQ(memory_bound_time(c, 1e9), hbm);  // HBM bandwidth is not the SM clock
}

TEST(Floors, KernelInventoryComesFromTheFrameworkFile) {
  const Model m = small_gpt();
  Training t = small_train();
  Layout l = split(1);
  t.framework = "megatron-core";
  const FrameworkBehaviour& mc = framework_behaviour(t);
  LayerKernels k = layer_kernels(m, t, l);
  EXPECT_DOUBLE_EQ(k.fwd, mc.kernels.dense_fwd);
  EXPECT_DOUBLE_EQ(k.bwd, mc.kernels.dense_bwd);
  EXPECT_EQ(k.recompute, 0.0);
  l.recompute = Recompute::Selective;
  EXPECT_DOUBLE_EQ(layer_kernels(m, t, l).recompute, mc.kernels.selective_recompute);
  l.recompute = Recompute::Full;
  EXPECT_DOUBLE_EQ(layer_kernels(m, t, l).recompute, mc.kernels.dense_fwd);
  // FP8 with current scaling: per linear the casts and the amax / scale kernels, 4 linears.
  l.recompute = Recompute::None;
  t.dtype = DType::FP8;
  t.fp8_recipe = Fp8Recipe::Current;
  k = layer_kernels(m, t, l);
  EXPECT_DOUBLE_EQ(k.fwd - mc.kernels.dense_fwd,
                   4 * (mc.kernels.fp8_fwd_per_linear + mc.kernels.fp8_current_per_linear));
  t.fp8_recipe = Fp8Recipe::Delayed;
  EXPECT_DOUBLE_EQ(layer_kernels(m, t, l).fwd - mc.kernels.dense_fwd,
                   4 * mc.kernels.fp8_fwd_per_linear);
  // torchtitan compiled runs fewer, fused kernels than eager.
  Training tt = small_train();
  tt.framework = "fsdp2";
  tt.compile = Switch::Off;
  const double eager = layer_kernels(m, tt, split(1)).total();
  tt.compile = Switch::On;
  EXPECT_LT(layer_kernels(m, tt, split(1)).total(), 0.6 * eager);
}

TEST(Floors, MoeKernelsScaleWithTheLocalExperts) {
  Model m = small_gpt();
  m.moe.experts = 128, m.moe.experts_per_token = 8, m.moe.expert_ffn_hidden = 768;
  Training t = small_train();
  t.framework = "megatron-core";
  const FrameworkBehaviour& mc = framework_behaviour(t);
  ASSERT_GT(mc.kernels.moe_per_expert_fwd, 0.0);  // TE GroupedLinear: a GEMM per local expert
  Layout l = split(1);
  const double ep1 = layer_kernels(m, t, l).fwd;
  l.ep = 8;
  const LayerKernels ep8 = layer_kernels(m, t, l);
  EXPECT_NEAR(ep1 - ep8.fwd, (128 - 16) * mc.kernels.moe_per_expert_fwd, 1e-9);
  EXPECT_DOUBLE_EQ(ep8.host_syncs, mc.kernels.moe_host_syncs);
}

TEST(Floors, ALayerCostsTheLargerOfDeviceAndHostTime) {
  // GPT-3 175B, TP 8: each kernel is long, the host runs ahead; dispatching twice as slowly
  // changes nothing. The small GPT at TP 8: the host is the step, and slower dispatch shows.
  const Model big = test::gpt3();
  const Cluster c = test::a100();
  Training tb = test::gpt3_train();
  Layout lb;
  lb.tp = 8, lb.pp = 8, lb.dp = 1, lb.micro_batch = 1;
  tb.framework = framework_file(2.0);
  const StepCost b1 = predict(big, c, tb, lb);
  tb.framework = framework_file(3.0);
  const StepCost b2 = predict(big, c, tb, lb);
  EXPECT_DOUBLE_EQ(b1.step_time_s, b2.step_time_s);
  EXPECT_GT(b1.time.launch_latency, 0.0);  // the kernels' device floors remain

  const Model m = small_gpt();
  Training t = small_train();
  t.framework = framework_file(2.0);
  const StepCost s1 = predict(m, c, t, split(8));
  t.framework = framework_file(3.0);
  const StepCost s2 = predict(m, c, t, split(8));
  EXPECT_GT(s2.step_time_s, 1.2 * s1.step_time_s);
  // Host-bound: compute and the exposed TP transfer fit inside the host's time, so the step
  // grows by the host time added (the layers' kernels x the extra dispatch), not by more.
  const double layers_mb = double(m.layers) * double(s1.micro_batches);
  t.framework = framework_file(2.0);
  const StepWork wa = step_work(m, c, t, split(8));
  t.framework = framework_file(3.0);
  const StepWork wb = step_work(m, c, t, split(8));
  // (the embedding's and head's host time grows too, and shows where it outlasts their work)
  const double ends = head_floors(c, t).host_s + embedding_floors(c, t).host_s;
  t.framework = framework_file(2.0);
  const double ends1 = head_floors(c, t).host_s + embedding_floors(c, t).host_s;
  const double grown = s2.step_time_s - s1.step_time_s;
  const double layers_grown = layers_mb * (wb.layer_host_s - wa.layer_host_s);
  EXPECT_GT(wb.layer_host_s, 1.3 * wa.layer_host_s);
  EXPECT_GE(grown, layers_grown * (1 - 1e-9));
  EXPECT_LE(grown, (layers_grown + double(s1.micro_batches) * (ends - ends1)) * (1 + 1e-9));
}

TEST(Floors, SmallGptOnEightA100sSlowsFromTp1ToTp8AtMicroBatch1) {
  // Megatron-DeepSpeed, global batch 64, micro-batch 1, TP x DP = 8: on real A100s the step time
  // rises with TP (the work per kernel shrinks, the kernels and TP calls per GPU do not); the
  // floors must show that, and name themselves in the breakdown.
  const Model m = small_gpt();
  const Training t = small_train();
  const Cluster c = test::a100();
  double prev = 0;
  std::printf("  tp  step ms  compute  tp comm  launch+latency  (no floors: step ms)\n");
  StepCost tp1, tp8;
  Cluster bare = no_floors(c);
  double bare1 = 0, bare8 = 0;
  for (int32_t tp : {1, 2, 4, 8}) {
    const StepCost s = predict(m, c, t, split(tp));
    const StepCost b = predict(m, bare, t, split(tp));
    std::printf("  %2d  %7.1f  %7.1f  %7.1f  %14.1f  %7.1f\n", tp, s.step_time_s * 1e3,
                s.time.compute * 1e3, s.time.tp_comm * 1e3, s.time.launch_latency * 1e3,
                b.step_time_s * 1e3);
    EXPECT_GT(s.step_time_s, prev) << "tp " << tp;
    prev = s.step_time_s;
    if (tp == 1) tp1 = s, bare1 = b.step_time_s;
    if (tp == 8) tp8 = s, bare8 = b.step_time_s;
  }
  // At TP 8 the floors are the largest line of the breakdown: the layout is overhead-bound.
  EXPECT_GT(tp8.time.launch_latency, tp8.time.compute);
  EXPECT_GT(tp8.time.launch_latency, tp8.time.tp_comm);
  EXPECT_LT(tp1.time.launch_latency, tp1.time.compute);
  // Without floors the TP 8 / TP 1 ratio is far smaller: the floors make the difference.
  EXPECT_GT(tp8.step_time_s / tp1.step_time_s, 1.15 * (bare8 / bare1));
  // The JSON names the line.
  EXPECT_DOUBLE_EQ(to_json(tp8)["time_s"]["launch_latency"].get<double>(),
                   tp8.time.launch_latency);
}

TEST(Floors, SmallTpAllReducesAreLatencyBound) {
  // One TP all-reduce of the small GPT's 1,024 x 1,024 bf16 activation on 8 A100s: NCCL's
  // per-call latency is a sizeable part; of a 16-token message it is nearly all of it.
  const Cluster c = test::a100();
  const Group g{8, 8, 8};
  const CollectiveEstimate big = collective_estimate(Collective::AllReduce, 2.0 * 1024 * 1024, g, c);
  const CollectiveEstimate tiny = collective_estimate(Collective::AllReduce, 2.0 * 16 * 1024, g, c);
  EXPECT_GT(big.latency_s, 5e-6);
  EXPECT_GT(tiny.latency_s / tiny.time_s, 0.5);
  // Every call also costs the host the framework's wrapper and a launch.
  Training t = small_train();
  EXPECT_GT(collective_host_s(c, t), gpu_floors(c.gpu).kernel_launch_s);
}

namespace {
// megatron-core's kernel inventory with its MoE layer, the forward's dispatch scaled and the
// MoE dispatcher's device-to-host syncs per forward set.
std::string moe_framework_file(double fwd_scale, double syncs) {
  const std::string path = ::testing::TempDir() + "/floors_moe_" +
                           std::to_string(int(fwd_scale * 100)) + "_" +
                           std::to_string(int(syncs)) + ".json";
  Training t;
  t.framework = "megatron-core";
  const FrameworkBehaviour& mc = framework_behaviour(t);
  const auto& k = mc.kernels;
  nlohmann::json j = {
      {"name", "mc-moe"},
      {"kernels",
       {{"dense_layer", {{"fwd", k.dense_fwd}, {"bwd", k.dense_bwd}}},
        {"moe",
         {{"fwd", k.moe_fwd}, {"bwd", k.moe_bwd}, {"per_expert_fwd", k.moe_per_expert_fwd},
          {"per_expert_bwd", k.moe_per_expert_bwd}, {"host_syncs", syncs}}},
        {"embedding", k.embedding},
        {"head", k.head}}},
      {"host",
       {{"dispatch_fwd_us", mc.host.dispatch_fwd_s * 1e6 * fwd_scale},
        {"dispatch_bwd_us", mc.host.dispatch_bwd_s * 1e6},
        {"collective_us", mc.host.collective_s * 1e6}}}};
  std::ofstream(path) << j.dump();
  return path;
}
}  // namespace

TEST(Floors, AHostSyncInTheForwardKeepsTheBackwardsLeadFromHidingTheForwardsHost) {
  // A small fine-grained MoE (hidden 1,024, 64 experts of 256, top-8) on 8 A100s, EP 8. Without
  // a sync the host runs ahead: a layer costs the larger of its whole host and device time. The
  // Megatron-Core dispatcher copies the split sizes to the host in every MoE forward, so the
  // lead the host banks during the backward's long kernels is gone when the next forward starts:
  // a forward whose host time outlasts its device time is paid even where the whole layer's
  // host time fits in its device time.
  Model m = small_gpt();
  m.moe.experts = 64, m.moe.experts_per_token = 8, m.moe.expert_ffn_hidden = 256;
  const Cluster c = test::a100();
  Training t = small_train();
  Layout l = split(1);
  l.ep = 8;
  bool seen = false;
  for (double scale : {0.5, 1.0, 2.0, 3.0, 4.0, 6.0, 8.0}) {
    t.framework = moe_framework_file(scale, 0);
    const StepWork wa = step_work(m, c, t, l);
    const StepCost a = predict(m, c, t, l);
    t.framework = moe_framework_file(scale, 1);
    const StepWork wb = step_work(m, c, t, l);
    const StepCost b = predict(m, c, t, l);
    EXPECT_DOUBLE_EQ(wa.layer_host_s, wb.layer_host_s);  // the sync adds no kernel
    // The layers' part of the step (PP 1: one stage, with the embedding and the head).
    auto layers_part = [&](const StepCost& s, const StepWork& w) {
      return s.time.compute + s.time.ep_comm + s.time.launch_latency -
             double(s.micro_batches) * (w.embedding_s + w.logits_s);
    };
    const LayerCompute& lc = wb.layer;
    const double dev_fwd = lc.fwd_s + wb.ep_fwd_exposed_s;
    const double dev_bwd = lc.bwd_s + wb.ep_bwd_exposed_s;
    const double host_fwd = wb.layer_host_fwd_s, host = wb.layer_host_s;
    ASSERT_GT(host_fwd, 0.0);
    ASSERT_LT(host_fwd, host);
    const double n = double(m.layers) * double(b.micro_batches);
    std::printf("  dispatch x%.1f: per layer and micro-batch host %.0f us (forward %.0f), device "
                "%.0f us (forward %.0f); step %.1f ms free-running, %.1f ms synced\n",
                scale, host * 1e6, host_fwd * 1e6, (dev_fwd + dev_bwd) * 1e6, dev_fwd * 1e6,
                a.step_time_s * 1e3, b.step_time_s * 1e3);
    // Synced: no forward is faster than its host, no backward than its device.
    EXPECT_GE(layers_part(b, wb), n * (host_fwd + dev_bwd) * (1 - 1e-9)) << "dispatch x" << scale;
    EXPECT_GE(b.step_time_s, a.step_time_s * (1 - 1e-12)) << "dispatch x" << scale;
    if (host_fwd + dev_bwd > 1.05 * std::max(host, dev_fwd + dev_bwd)) {
      // Free-running, the host's lead from the backward hides part of the forward's host time.
      seen = true;
      EXPECT_LT(layers_part(a, wa), n * (host_fwd + dev_bwd)) << "dispatch x" << scale;
    }
  }
  EXPECT_TRUE(seen) << "no dispatch cost made the forward host-bound enough to tell";
}

TEST(Floors, TheExpertLoopCostsHostTimePerLocalExpertGroupedGemmCallAndPass) {
  // TE GroupedLinear's Python loop over the local experts (megatron-core host.expert_loop_us per
  // item, host.expert_loop_items per expert, call and pass): host time per local expert, per
  // grouped-GEMM call (FC1, FC2) and per pass, more items under FP8 (quantized tensors); a
  // framework without the loop pays nothing; enough of it makes the MoE step host-bound.
  Model m = small_gpt();
  m.moe.experts = 64, m.moe.experts_per_token = 8, m.moe.expert_ffn_hidden = 256;
  Cluster c = test::a100();
  c.gpu.floors.module_call_s = 0;  // the loop alone (module calls: graph_scope_test.cpp)
  Training t = small_train();
  t.framework = "megatron-core";
  t.dtype = DType::BF16;
  const FrameworkBehaviour& mc = framework_behaviour(t);
  ASSERT_EQ(mc.host.expert_loop_calls, 2.0);  // linear_fc1 and linear_fc2
  ASSERT_GT(mc.host.expert_loop_s, 0.0);
  // Counted from TE v2.10 grouped_linear.py: 8 / 11 items under FP8, 3 / 7 in 16 bits.
  ASSERT_EQ(mc.host.expert_loop_items_fwd, 8.0);
  ASSERT_EQ(mc.host.expert_loop_items_bwd, 11.0);
  ASSERT_EQ(mc.host.expert_loop_items_fwd_16bit, 3.0);
  ASSERT_EQ(mc.host.expert_loop_items_bwd_16bit, 7.0);
  EXPECT_GT(expert_loop_s(c.gpu, t), 0.0);  // the shipped fit's value, or the prior
  Layout l = split(1);
  l.ep = 8;  // 8 local experts
  auto host = [&](double loop_s) {
    Cluster cc = c;
    cc.gpu.floors.expert_loop_s = loop_s;
    return layer_floors(m, cc, t, l);
  };
  const LayerFloors none = host(0), some = host(5e-6);
  EXPECT_NEAR(some.host_fwd_s - none.host_fwd_s, 8 * 2 * 3 * 5e-6, 1e-12);
  EXPECT_NEAR(some.host_s - none.host_s, 8 * 2 * (3 + 7) * 5e-6, 1e-12);  // forward + backward
  EXPECT_DOUBLE_EQ(some.device_s, none.device_s);                         // host only
  l.recompute = Recompute::Full;  // reruns the forward's loop
  EXPECT_NEAR(host(5e-6).host_s - host(0).host_s, 8 * 2 * (3 + 3 + 7) * 5e-6, 1e-12);
  l.recompute = Recompute::None;
  t.dtype = DType::FP8;  // quantized splits, workspaces and saved tensors: 8 / 11 items
  EXPECT_NEAR(host(5e-6).host_s - host(0).host_s, 8 * 2 * (8 + 11) * 5e-6, 1e-12);
  t.dtype = DType::BF16;
  l.ep = 1;  // 64 local experts
  EXPECT_NEAR(host(5e-6).host_fwd_s - host(0).host_fwd_s, 64 * 2 * 3 * 5e-6, 1e-12);
  l.ep = 8;
  // Step: a loop far beyond the device time is paid by every layer and micro-batch, less the
  // slack it first fills (none where the layer's host already outlasts its GPU).
  auto step = [&](double loop_s) {
    Cluster cc = c;
    cc.gpu.floors.expert_loop_s = loop_s;
    return predict(m, cc, t, l);
  };
  const StepCost s0 = step(0), s1 = step(100e-6);
  const double n = double(m.layers) * double(s1.micro_batches);
  const double per = 8 * 2 * (3 + 7) * 100e-6;
  EXPECT_GT(s1.step_time_s - s0.step_time_s, 0.8 * n * per);
  EXPECT_LE(s1.step_time_s - s0.step_time_s, n * per * (1 + 1e-9));
  // megatron-deepspeed declares no per-expert loop: the cluster's value changes nothing.
  t.framework = "megatron-deepspeed";
  EXPECT_EQ(expert_loop_s(c.gpu, t), 0.0);
  EXPECT_DOUBLE_EQ(host(500e-6).host_s, host(0).host_s);
}
