// `parplan calibrate` on 2 local ranks (CPU, Gloo): the host overheads it measures
// (runtime/src/calibrate_host.cpp) and the GEMM shapes of --plan.
#include <algorithm>
#include <filesystem>

#include <gtest/gtest.h>

#include "parplan/model/cluster.hpp"
#include "parplan/model/error.hpp"
#include "parplan/model/io.hpp"
#include "parplan/runtime/run.hpp"

using namespace parplan;
namespace fs = std::filesystem;

TEST(Calibrate, MeasuresTheHostOverheadsAndThePlansGemmShapes) {
  auto dir = fs::temp_directory_path() / ("parplan_cal_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  Plan p;
  p.model.name = "tiny-char";
  p.model.layers = 2, p.model.hidden = 64, p.model.heads = 4, p.model.kv_heads = 4;
  p.model.ffn_hidden = 256, p.model.vocab = 65, p.model.max_seq_len = 32;
  p.cluster = load_cluster("cpu-host");
  p.training.global_batch = 8, p.training.seq_len = 32, p.training.dtype = DType::FP32;
  p.layout.micro_batch = 2;
  const auto plan_path = (dir / "cal.plan.json").string();
  write_file_atomic(plan_path, to_json(p).dump());
  runtime::CalibrateOptions o;
  o.nproc = 2, o.out = (dir / "cluster.json").string(), o.plan = plan_path, o.timeout_s = 60;
  const auto j = runtime::calibrate(o, "/proc/self/exe", {"worker"});

  // The cluster file reads back with the three measured overheads.
  Diagnostics d;
  const Cluster c = cluster_from_json(j, d);
  ASSERT_TRUE(d.ok());
  // An eager operator costs microseconds on any CPU: more than 0.1 us, less than 1 ms.
  EXPECT_GT(c.gpu.op_overhead_s, 0.1e-6);
  EXPECT_LT(c.gpu.op_overhead_s, 1e-3);
  const auto& cal = j["calibration"];
  // op_overhead = the block's forward + backward / (3 x 20 counted forward operators).
  EXPECT_EQ(cal["op_overhead"]["layer_forward_ops_counted"].get<double>(), 20.0);
  EXPECT_NEAR(c.gpu.op_overhead_s * 1e6,
              cal["op_overhead"]["layer_forward_backward_us"].get<double>() / 60.0,
              0.5 * c.gpu.op_overhead_s * 1e6);  // rank 0's figure vs the ranks' mean
  for (const char* op : {"all_reduce", "all_gather", "reduce_scatter", "send_recv"}) {
    EXPECT_GE(j["intra_node"]["call_overhead_us"][op].get<double>(), 0.0) << op;
    EXPECT_LT(j["intra_node"]["call_overhead_us"][op].get<double>(), 1e5) << op;  // < 0.1 s
    // Every operation took longer than the compute alone (a 128 KB exchange is not free).
    EXPECT_GT(cal["call_overheads"]["median_ms"][op].get<double>(),
              cal["call_overheads"]["median_ms"]["compute_alone"].get<double>()) << op;
  }
  // Each operation also at 2 MB (its per-byte slope between compute is recorded), and the DP
  // collectives issued on the communication thread during compute, against the same issued
  // blocking after it: `concurrent` is what the first costs beyond the second.
  for (const char* op : {"all_reduce", "all_gather", "reduce_scatter", "send_recv"})
    EXPECT_GT(cal["call_overheads"]["median_ms"][std::string(op) + "_2MB"].get<double>(),
              cal["call_overheads"]["median_ms"]["compute_alone"].get<double>()) << op;
  const auto& ct = cal["call_overheads"]["comm_thread"];
  EXPECT_GE(c.intra.call_overhead_s.concurrent, 0.0);
  EXPECT_NEAR(c.intra.call_overhead_s.concurrent * 1e6, ct["concurrent_extra_us"].get<double>(), 1e-6);
  // sync_wait: the calls' mean − median beyond the compute's own, >= 0, as recorded.
  const auto& co = cal["call_overheads"];
  double tail = 0;
  for (const char* op : {"all_reduce", "all_gather", "reduce_scatter", "send_recv"})
    tail += (co["mean_ms"][op].get<double>() - co["median_ms"][op].get<double>()) / 4.0;
  tail -= co["mean_ms"]["compute_alone"].get<double>() - co["median_ms"]["compute_alone"].get<double>();
  EXPECT_NEAR(c.intra.call_overhead_s.sync_wait * 1e6, std::max(0.0, tail * 1e3), 1e-3);
  EXPECT_NEAR(c.intra.call_overhead_s.sync_wait * 1e6, co["sync_wait_us"].get<double>(), 1e-6);
  for (const char* op : {"all_reduce", "reduce_scatter", "all_gather"})
    EXPECT_GT(ct["blocking_ms"][op].get<double>(), ct["compute_alone_ms"].get<double>()) << op;
  // --plan: tokens 64 and 32 x each linear (h x h, h x 4h, 4h x h) whole and halved, + the head.
  ASSERT_EQ(cal["matmul"].size(), 17u);
  EXPECT_EQ(cal["matmul"][0]["m"].get<double>(), 64.0);
  EXPECT_EQ(cal["matmul"][16]["n"].get<double>(), 65.0);
  fs::remove_all(dir);
}
