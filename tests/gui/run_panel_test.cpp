// The run panel and the Pareto chart: what they show equals the cost model's whole run, and the
// front drawn is the front of the rows.
#include <gtest/gtest.h>

#include <QDoubleSpinBox>
#include <QLabel>
#include <QLineSeries>
#include <QPixmap>
#include <QTabWidget>
#include <filesystem>

#include "charts/pareto_chart.hpp"
#include "gui_test_support.hpp"
#include "main_window.hpp"
#include "parplan/cost/run.hpp"
#include "run_panel.hpp"

namespace parplan::gui {
namespace {

using test::save_shot;

TEST(RunPanel, ShowsTheCostModelsWholeRun) {
  MainWindow w;
  ASSERT_TRUE(w.set_model("llama3-8b"));
  ASSERT_TRUE(w.set_cluster("dgx-h100-80g"));
  ASSERT_TRUE(w.set_training("llama3-8k"));
  ASSERT_TRUE(w.set_gpus(512));
  Layout l;
  l.dp = 64;
  l.tp = 8;
  l.zero = 1;
  l.sequence_parallel = true;
  w.apply_layout(l);
  ASSERT_TRUE(w.prediction().has_value()) << w.status_text().toStdString();
  EXPECT_NE(w.run_panel()->text().indexOf("token budget"), -1);  // none set yet
  // A user types 15,000 B tokens.
  auto* spin = w.run_panel()->findChild<QDoubleSpinBox*>("tokens");
  ASSERT_NE(spin, nullptr);
  spin->setValue(15000);
  EXPECT_DOUBLE_EQ(w.training().tokens, 15e12);
  const cost::RunCost r =
      cost::run_cost(w.model(), w.cluster(), w.training(), w.layout(), *w.prediction());
  const QString text = w.run_panel()->text();
  EXPECT_NE(text.indexOf(QString::number(r.gpu_hours, 'g', 4)), -1) << text.toStdString();
  EXPECT_NE(text.indexOf(QString::number(r.cost, 'g', 4)), -1) << text.toStdString();
  EXPECT_NE(text.indexOf(QString::fromStdString(cost::human_duration(r.wall_s))), -1);
  w.tabs()->setCurrentWidget(w.run_panel());
  save_shot(w, "llama3-8b_512xH100_run.png");
}

TEST(ParetoChart, DrawsTheFrontOfTheSweep) {
  MainWindow w;
  ASSERT_TRUE(w.set_model("llama3-8b"));
  ASSERT_TRUE(w.set_cluster(R"({"name": "dgx-h100-64", "nodes": 64, "gpus_per_node": 8,
    "gpu": {"name": "H100-SXM5-80GB", "memory_GiB": 80, "memory_GBps": 3350,
            "peak_tflops": {"bf16": 989}},
    "intra_node": {"kind": "nvswitch", "bandwidth_GBps": 450, "latency_us": 2},
    "inter_node": {"topology": "fat-tree", "nic_GBps": 50, "nics_per_node": 8, "latency_us": 5},
    "economics": {"price_per_gpu_hour": 12.29, "gpu_power_W": 700, "node_overhead_W": 4600,
                  "pue": 1.1},
    "reliability": {"failures_per_gpu_hour": 1.97e-5, "restart_s": 600, "checkpoint_GBps": 2000}})"));
  ASSERT_TRUE(w.set_training(R"({"global_batch": 512, "seq_len": 8192, "tokens": 15e12})"));
  w.start_scaling_sweep();
  ASSERT_TRUE(test::wait_for_runner(w, 120000));
  const auto& rows = w.pareto_chart()->rows();
  ASSERT_GE(rows.size(), 5u);  // 8 .. 512 GPUs fit
  int front = 0;
  for (const auto& r : rows) front += r.pareto;
  EXPECT_EQ(w.pareto_chart()->front_points(), front);
  EXPECT_EQ(w.pareto_chart()->front_line()->count(), front);
  EXPECT_GE(front, 2);
  // Time-to-train spans more than a decade (8 to 512 GPUs): log axis.
  EXPECT_TRUE(w.pareto_chart()->log_x());
  save_shot(w, "llama3-8b_pareto.png");
}

}  // namespace
}  // namespace parplan::gui
