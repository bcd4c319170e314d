// The whole run: Young/Daly checkpoint interval, goodput, time-to-train, cost and energy.
#include "parplan/cost/run.hpp"

#include <gtest/gtest.h>

#include <cmath>

#include "parplan/model/io.hpp"
#include "test_inputs.hpp"

namespace parplan::cost {
namespace {

TEST(YoungDaly, IntervalByHand) {
  // delta = 60 s, M = 3600 s: x = delta / 2M = 1/120;
  // sqrt(2 * 60 * 3600) = 657.2671; 1 + sqrt(1/120)/3 + (1/120)/9 = 1.0313549;
  // tau = 657.2671 * 1.0313549 - 60 = 617.876 s (Young's first order alone: 657.3 s).
  EXPECT_NEAR(daly_interval(60, 3600), 617.876, 0.01);
  // delta >= 2M: checkpoint once per MTBF.
  EXPECT_DOUBLE_EQ(daly_interval(8000, 3600), 3600);
  EXPECT_EQ(daly_interval(60, 0), 0);  // no failures: no interval
}

TEST(YoungDaly, WallTimeByHand) {
  // Ts = 36000 s of work, tau = 600, delta = 60, R = 300, M = 3600:
  // wall = 3600 e^{300/3600} (e^{660/3600} - 1) 36000/600
  //      = 3600 * 1.086904 * 0.201215 * 60 = 47239.4 s; goodput 0.76208.
  EXPECT_NEAR(daly_wall_time(36000, 600, 60, 300, 3600), 47239.44, 0.05);
  // No failures: only the checkpoint stalls, delta / tau = 10% here.
  EXPECT_DOUBLE_EQ(daly_wall_time(36000, 600, 60, 300, 0), 36000 * 1.1);
  // The optimum interval is no worse than its neighbours.
  const double opt = daly_interval(60, 3600);
  const double at = daly_wall_time(36000, opt, 60, 300, 3600);
  EXPECT_LT(at, daly_wall_time(36000, 0.7 * opt, 60, 300, 3600));
  EXPECT_LT(at, daly_wall_time(36000, 1.4 * opt, 60, 300, 3600));
}

// 64 GPUs on 8 DGX A100 nodes, gpt3-175b, TP 8 x PP 8.
struct RunCase {
  Model m = test::gpt3();
  Cluster c = test::a100();
  Training t = test::gpt3_train();
  Layout l;
  RunCase() {
    l.dp = 1;
    l.tp = 8;
    l.pp = 8;
    l.zero = 1;
    l.recompute = Recompute::Full;
    c.reliability = {};
    c.economics.price_per_gpu_hour = 2.0;
    c.economics.gpu_power_W = 400;
    c.economics.node_overhead_W = 3300;
    c.economics.pue = 1.1;
    // 1000 steps of 1536 x 2048 = 3,145,728 tokens.
    t.tokens = 1000.0 * 1536 * 2048;
  }
};

TEST(RunCost, TimeCostEnergyByHandWithoutFailures) {
  RunCase k;
  const StepCost s = predict(k.m, k.c, k.t, k.l);
  const RunCost r = run_cost(k.m, k.c, k.t, k.l, s);
  EXPECT_EQ(r.steps, 1000);
  EXPECT_DOUBLE_EQ(r.compute_s, 1000 * s.step_time_s);
  EXPECT_DOUBLE_EQ(r.goodput.goodput, 1.0);  // no failure rate: nothing lost
  EXPECT_DOUBLE_EQ(r.wall_s, r.compute_s);
  EXPECT_EQ(r.gpus, 64);
  EXPECT_EQ(r.nodes, 8);
  EXPECT_NEAR(r.gpu_hours, 64 * r.wall_s / 3600, 1e-9);
  EXPECT_NEAR(r.cost, r.gpu_hours * 2.0, 1e-9);
  // IT power 64 x 400 W + 8 nodes x 3300 W = 52 kW, x PUE 1.1 = 57.2 kW.
  EXPECT_NEAR(r.average_power_kW, 57.2, 1e-9);
  EXPECT_NEAR(r.energy_kWh, 57.2 * r.wall_s / 3600, 1e-9);
  ASSERT_FALSE(r.notes.empty());  // says that failures were not counted
}

TEST(RunCost, GoodputByHandWithFailures) {
  RunCase k;
  // Job MTBF 3600 s on 64 GPUs: 1/64 failures per GPU-hour. A checkpoint of 14 bytes per
  // parameter (bf16 weights 2 + fp32 master and Adam moments 12) written in exactly 60 s.
  const double ckpt = count_params(k.m).total * 14.0;
  k.c.reliability.failures_per_gpu_hour = 1.0 / 64;
  k.c.reliability.restart_s = 300;
  k.c.reliability.checkpoint_bytes_per_s = ckpt / 60;
  const StepCost s = predict(k.m, k.c, k.t, k.l);
  const RunCost r = run_cost(k.m, k.c, k.t, k.l, s);
  EXPECT_NEAR(r.goodput.checkpoint_bytes, ckpt, 1);
  EXPECT_NEAR(r.goodput.checkpoint_s, 60, 1e-9);
  EXPECT_NEAR(r.goodput.job_mtbf_s, 3600, 1e-9);
  EXPECT_NEAR(r.goodput.interval_s, 617.876, 0.01);  // as YoungDaly.IntervalByHand
  // Ts = 1000 steps: wall = 3600 e^{300/3600} (e^{677.876/3600} - 1) Ts / 617.876.
  const double ts = 1000 * s.step_time_s;
  const double wall = 3600 * std::exp(300.0 / 3600) * (std::exp(677.876 / 3600) - 1) * ts / 617.876;
  EXPECT_NEAR(r.wall_s, wall, 1e-4 * wall);
  EXPECT_NEAR(r.goodput.goodput, ts / wall, 1e-4);
  // time-to-train = steps x step time / goodput.
  EXPECT_NEAR(r.wall_s, r.steps * s.step_time_s / r.goodput.goodput, 1e-6 * r.wall_s);
  EXPECT_GT(r.goodput.expected_failures, 0);
}

TEST(RunCost, AsyncCheckpointStallsOnlyForTheDeviceCopy) {
  RunCase k;
  const double ckpt = count_params(k.m).total * 14.0;
  k.c.reliability.failures_per_gpu_hour = 1.0 / 64;
  k.c.reliability.checkpoint_bytes_per_s = ckpt / 60;
  k.t.async_checkpoint = true;
  const StepCost s = predict(k.m, k.c, k.t, k.l);
  const RunCost r = run_cost(k.m, k.c, k.t, k.l, s);
  // The stall is this GPU's weights + optimizer shard over 25 GB/s PCIe (dgx-a100-80g host).
  EXPECT_NEAR(r.goodput.checkpoint_s, (s.memory.params + s.memory.optimizer) / 25e9, 1e-9);
  EXPECT_LT(r.goodput.checkpoint_s, 60);
  EXPECT_GE(r.goodput.interval_s, 60);  // never faster than the storage writes
}

TEST(RunCost, BatchRampStagesAddUp) {
  RunCase k;
  // 100 steps' worth of tokens at batch 512, then the rest at 1536.
  k.t.batch_ramp = {{100.0 * 512 * 2048, 512}};
  const StepCost s = predict(k.m, k.c, k.t, k.l);
  const RunCost r = run_cost(k.m, k.c, k.t, k.l, s);
  ASSERT_EQ(r.stages.size(), 2u);
  EXPECT_EQ(r.stages[0].steps, 100);
  EXPECT_EQ(r.stages[0].global_batch, 512);
  // Remaining tokens: (1000 * 1536 - 100 * 512) * 2048 -> 1000 - 33.33 = 966.67 -> 967 steps.
  EXPECT_EQ(r.stages[1].steps, 967);
  EXPECT_LT(r.stages[0].step_time_s, r.stages[1].step_time_s);  // fewer micro-batches
  EXPECT_DOUBLE_EQ(r.compute_s, 100 * r.stages[0].step_time_s + 967 * r.stages[1].step_time_s);
}

TEST(RunCost, NeedsTokens) {
  RunCase k;
  k.t.tokens = 0;
  const StepCost s = predict(k.m, k.c, k.t, k.l);
  EXPECT_THROW(run_cost(k.m, k.c, k.t, k.l, s), Error);
}

TEST(RunCost, BadClusterValuesNameTheField) {
  const std::string base = R"({"nodes": 1, "gpus_per_node": 8, "gpu": {"memory_GiB": 80,
    "memory_GBps": 2000, "peak_tflops": {"bf16": 312}}, "intra_node": {"bandwidth_GBps": 300},)";
  auto expect_error = [&](const std::string& tail, const std::string& field) {
    try {
      load_cluster(base + tail + "}");
      ADD_FAILURE() << "accepted " << tail;
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(field), std::string::npos) << e.what();
    }
  };
  expect_error(R"("economics": {"price_per_gpu_hour": -1})", "economics.price_per_gpu_hour");
  expect_error(R"("economics": {"gpu_power_W": 0})", "economics.gpu_power_W");
  expect_error(R"("economics": {"pue": 0.9})", "economics.pue");
  expect_error(R"("reliability": {"failures_per_gpu_hour": -1e-5})",
               "reliability.failures_per_gpu_hour");
  expect_error(R"("reliability": {"checkpoint_GBps": -5})", "reliability.checkpoint_GBps");
}

TEST(Duration, ParsesUnits) {
  EXPECT_DOUBLE_EQ(parse_duration("30d", "--deadline"), 30 * 86400.0);
  EXPECT_DOUBLE_EQ(parse_duration("12h", "--deadline"), 12 * 3600.0);
  EXPECT_DOUBLE_EQ(parse_duration("90m", "--deadline"), 5400.0);
  EXPECT_DOUBLE_EQ(parse_duration("3600", "--deadline"), 3600.0);
  EXPECT_THROW(parse_duration("soon", "--deadline"), Error);
  EXPECT_THROW(parse_duration("-3d", "--deadline"), Error);
  EXPECT_THROW(parse_duration("3y", "--deadline"), Error);
}

}  // namespace
}  // namespace parplan::cost
