// Drives the window as a user does and checks that the charts show the cost model's numbers.
#include "main_window.hpp"

#include <gtest/gtest.h>

#include <QBarSet>
#include <QCheckBox>
#include <QLineSeries>
#include <QProcess>
#include <QScatterSeries>
#include <QSpinBox>
#include <QTableWidget>
#include <QTextBrowser>
#include <cstdlib>
#include <filesystem>

#include "charts/measured_chart.hpp"
#include "charts/memory_chart.hpp"
#include "charts/scaling_chart.hpp"
#include "charts/time_chart.hpp"
#include "gui_test_support.hpp"
#include "parplan/cost/step.hpp"
#include "parplan/model/io.hpp"

namespace parplan::gui {
namespace {

using test::choose;
using test::wait_for_runner;

constexpr double kGiB = double(1ull << 30);

std::filesystem::path temp_file(const std::string& name) {
  return std::filesystem::temp_directory_path() / ("parplan_gui_" + name);
}

// The charts hold exactly cost::predict's numbers for `l` on the window's inputs.
void expect_charts_show(const MainWindow& w, const Layout& l) {
  ASSERT_EQ(w.layout(), l) << describe(w.layout()) << " vs " << describe(l);
  cost::StepCost s = cost::predict(w.model(), w.cluster(), w.training(), l);
  ASSERT_TRUE(w.prediction().has_value()) << w.status_text().toStdString();
  const MemoryChart* mc = w.memory_chart();
  const auto& m = s.memory;
  EXPECT_NEAR(mc->value_GiB("params"), m.params / kGiB, 1e-9);
  EXPECT_NEAR(mc->value_GiB("grads"), m.grads / kGiB, 1e-9);
  EXPECT_NEAR(mc->value_GiB("optimizer"), m.optimizer / kGiB, 1e-9);
  EXPECT_NEAR(mc->value_GiB("activations"), m.activations / kGiB, 1e-9);
  EXPECT_NEAR(mc->value_GiB("buffers"), m.buffers / kGiB, 1e-9);
  EXPECT_NEAR(mc->value_GiB("reserve"), m.reserve / kGiB, 1e-9);
  EXPECT_NEAR(mc->capacity_GiB(), m.capacity / kGiB, 1e-9);
  const TimeChart* tc = w.time_chart();
  const auto& t = s.time;
  double tol = 1e-9 * std::max(1.0, s.step_time_s);
  EXPECT_NEAR(tc->value_seconds("compute"), t.compute, tol);
  EXPECT_NEAR(tc->value_seconds("TP comm"), t.tp_comm, tol);
  EXPECT_NEAR(tc->value_seconds("CP comm"), t.cp_comm, tol);
  EXPECT_NEAR(tc->value_seconds("PP comm"), t.pp_comm, tol);
  EXPECT_NEAR(tc->value_seconds("PP bubble"), t.pp_bubble, tol);
  EXPECT_NEAR(tc->value_seconds("DP comm"), t.dp_comm_exposed, tol);
  EXPECT_NEAR(tc->value_seconds("optimizer step"), t.optimizer, tol);
  EXPECT_DOUBLE_EQ(w.prediction()->step_time_s, s.step_time_s);
  EXPECT_DOUBLE_EQ(w.prediction()->mfu, s.mfu);
  EXPECT_DOUBLE_EQ(w.prediction()->tokens_per_s, s.tokens_per_s);
}

Layout design_example() {  // docs/design.md's layout for GPT-3 175B on 1,024 A100s
  Layout l;
  l.dp = 16;
  l.tp = 8;
  l.pp = 8;
  l.zero = 1;
  l.recompute = Recompute::Selective;
  l.sequence_parallel = true;
  return l;
}

TEST(MainWindow, StartsWithTheDesignExampleAndShowsItsPrediction) {
  MainWindow w;
  EXPECT_EQ(w.model().name, "gpt3-175b");
  EXPECT_EQ(w.gpus(), 1024);
  expect_charts_show(w, design_example());
}

TEST(MainWindow, SettingTheControlsRedrawsTheChartsWithTheCostModelsNumbers) {
  MainWindow w;
  Layout l = design_example();

  choose(w, "tp", 4);  // dp is derived again: 1024 / (4 * 8) = 32
  l.tp = 4;
  l.dp = 32;
  expect_charts_show(w, l);

  choose(w, "zero", 3);
  l.zero = 3;
  expect_charts_show(w, l);

  choose(w, "recompute", int(Recompute::Full));
  l.recompute = Recompute::Full;
  expect_charts_show(w, l);

  choose(w, "micro_batch", 2);
  l.micro_batch = 2;
  expect_charts_show(w, l);

  choose(w, "schedule", int(Schedule::Interleaved));  // needs two or more chunks per stage
  l.schedule = Schedule::Interleaved;
  l.virtual_stages = 2;
  expect_charts_show(w, l);
  choose(w, "virtual_stages", 3);  // 96 layers / 8 stages = 12 per stage, 3 chunks of 4
  l.virtual_stages = 3;
  expect_charts_show(w, l);

  auto* sp = w.findChild<QCheckBox*>("sequence_parallel");
  ASSERT_NE(sp, nullptr);
  sp->setChecked(false);
  l.sequence_parallel = false;
  expect_charts_show(w, l);

  auto* gpus = w.findChild<QSpinBox*>("gpus");
  ASSERT_NE(gpus, nullptr);
  gpus->setValue(512);  // dp follows: 512 / 32 = 16
  l.dp = 16;
  expect_charts_show(w, l);

  auto* seq = w.findChild<QSpinBox*>("seq_len");
  ASSERT_NE(seq, nullptr);
  seq->setValue(1024);
  EXPECT_EQ(w.training().seq_len, 1024);
  expect_charts_show(w, l);
}

TEST(MainWindow, EveryUpdateTakesUnderFiftyMilliseconds) {
  MainWindow w;
  for (int tp : {1, 2, 4, 8, 16, 8}) {
    choose(w, "tp", tp);
    EXPECT_LT(w.last_update_ms(), 50.0) << "tp=" << tp;
  }
}

TEST(MainWindow, AgreesWithParplanPredictJson) {
  const char* bin = std::getenv("PARPLAN_BIN");
  if (!bin || !std::filesystem::exists(bin)) GTEST_SKIP() << "PARPLAN_BIN not set or missing";
  MainWindow w;
  Layout l = design_example();
  QProcess p;
  p.start(bin, {"predict", "--model", "gpt3-175b", "--cluster", "dgx-a100-80g", "--train",
                "gpt3-1536", "--gpus", "1024", "--layout",
                QString::fromStdString(parplan::to_json(l).dump()), "--json"});
  ASSERT_TRUE(p.waitForFinished(30000));
  ASSERT_EQ(p.exitCode(), 0) << p.readAllStandardError().toStdString();
  auto j = nlohmann::json::parse(p.readAllStandardOutput().toStdString());
  const auto& mem = j.at("memory_per_gpu_bytes");
  const MemoryChart* mc = w.memory_chart();
  for (const char* k : {"params", "grads", "optimizer", "activations", "buffers"})
    EXPECT_NEAR(mc->value_GiB(k), mem.at(k).get<double>() / kGiB, 1e-6) << k;
  const auto& t = j.at("time_s");
  const TimeChart* tc = w.time_chart();
  EXPECT_NEAR(tc->value_seconds("compute"), t.at("compute").get<double>(), 1e-9);
  EXPECT_NEAR(tc->value_seconds("TP comm"), t.at("tp_comm").get<double>(), 1e-9);
  EXPECT_NEAR(tc->value_seconds("PP bubble"), t.at("pp_bubble").get<double>(), 1e-9);
  EXPECT_NEAR(tc->value_seconds("DP comm"), t.at("dp_comm_exposed").get<double>(), 1e-9);
  EXPECT_NEAR(w.prediction()->step_time_s, j.at("step_time_s").get<double>(), 1e-9);
  EXPECT_NEAR(w.prediction()->mfu, j.at("mfu").get<double>(), 1e-9);
}

TEST(MainWindow, AnInvalidCombinationShowsAMessageNotACrash) {
  MainWindow w;
  Layout l = design_example();
  l.tp = 5;  // does not divide 96 heads
  l.dp = 16;
  w.apply_layout(l);
  EXPECT_FALSE(w.prediction().has_value());
  EXPECT_TRUE(w.status_text().contains("must divide the model's heads"))
      << w.status_text().toStdString();
  EXPECT_DOUBLE_EQ(w.memory_chart()->value_GiB("params"), 0.0);

  l = design_example();
  l.dp = 64;  // 4,096 GPUs on a 1,024-GPU selection
  w.apply_layout(l);
  EXPECT_FALSE(w.prediction().has_value());
  EXPECT_TRUE(w.status_text().contains("GPUs")) << w.status_text().toStdString();

  EXPECT_FALSE(w.set_model("no-such-model"));
  EXPECT_TRUE(w.status_text().contains("no-such-model")) << w.status_text().toStdString();
  EXPECT_FALSE(w.load_workspace("/nonexistent/workspace.json"));
  EXPECT_FALSE(w.add_measured("/nonexistent/measured.json"));

  // Fixing the layout brings the prediction back.
  w.apply_layout(design_example());
  expect_charts_show(w, design_example());
}

TEST(MainWindow, LayoutControlsOfferOnlyValidValues) {
  MainWindow w;
  auto* tp = w.findChild<QComboBox*>("tp");
  auto* dp = w.findChild<QComboBox*>("dp");
  ASSERT_TRUE(tp && dp);
  for (int i = 0; i < tp->count(); ++i) EXPECT_EQ(96 % tp->itemData(i).toInt(), 0);
  for (int i = 0; i < dp->count(); ++i) {
    int d = dp->itemData(i).toInt();
    EXPECT_EQ(1536 % d, 0) << d;
    EXPECT_LE(int64_t(d) * w.layout().tp * w.layout().pp * w.layout().cp, w.gpus()) << d;
  }
}

TEST(MainWindow, AWorkspaceWithAnInvalidLayoutShowsWhatIsWrong) {
  auto ws = temp_file("bad_workspace.json");
  Workspace bad{load_model("gpt3-175b"),    load_cluster("dgx-a100-80g"),
                load_training("gpt3-1536"), 1024,
                design_example(),           {}};
  bad.layout.pp = 128;  // more stages than the 96 layers
  save_workspace(bad, ws.string());
  MainWindow w;
  ASSERT_TRUE(w.load_workspace(QString::fromStdString(ws.string())));
  std::filesystem::remove(ws);
  EXPECT_EQ(w.layout().pp, 128);
  EXPECT_FALSE(w.prediction().has_value());
  EXPECT_TRUE(w.status_text().contains("layout.pp")) << w.status_text().toStdString();
}

TEST(MainWindow, LoadsAHuggingFaceConfig) {
  MainWindow w;
  auto path = temp_file("hf_config.json");
  nlohmann::json hf = {{"model_type", "llama"},      {"num_hidden_layers", 16},
                       {"hidden_size", 2048},        {"num_attention_heads", 32},
                       {"num_key_value_heads", 8},   {"intermediate_size", 8192},
                       {"vocab_size", 128256},       {"max_position_embeddings", 8192},
                       {"tie_word_embeddings", true}};
  write_file_atomic(path.string(), hf.dump());
  ASSERT_TRUE(w.set_model(QString::fromStdString(path.string()))) << w.status_text().toStdString();
  std::filesystem::remove(path);
  EXPECT_EQ(w.model().layers, 16);
  EXPECT_EQ(w.model().kv_heads, 8);
  expect_charts_show(w, w.layout());
}

TEST(MainWindow, PlannerRowsApplyToTheControlsAndRulesAreShown) {
  MainWindow w;
  ASSERT_TRUE(w.set_model("shakespeare-char"));
  ASSERT_TRUE(w.set_training("shakespeare-char"));
  ASSERT_TRUE(w.set_gpus(4));
  w.start_search();
  ASSERT_TRUE(wait_for_runner(w));
  QTableWidget* table = w.planner_table();
  ASSERT_GE(table->rowCount(), 2);
  table->setCurrentCell(1, 0);
  Layout second = w.layout();
  EXPECT_EQ(table->item(1, 1)->text().toInt(), second.dp);
  EXPECT_EQ(table->item(1, 2)->text().toInt(), second.tp);
  expect_charts_show(w, second);
  EXPECT_FALSE(w.rules_view()->toPlainText().isEmpty());
  EXPECT_TRUE(w.rules_view()->toPlainText().contains("Decision rules"));
}

TEST(MainWindow, ScalingSweepPlotsTheBestPlanPerGpuCount) {
  MainWindow w;
  ASSERT_TRUE(w.set_model("shakespeare-char"));
  ASSERT_TRUE(w.set_training("shakespeare-char"));
  ASSERT_TRUE(w.set_cluster("cpu-host"));  // 2 "GPUs": sweeps 1 and 2
  w.start_scaling_sweep();
  ASSERT_TRUE(wait_for_runner(w));
  const auto& pts = w.scaling_chart()->points();
  ASSERT_FALSE(pts.empty());
  EXPECT_EQ(w.scaling_chart()->tokens_series()->count(), int(pts.size()));
  for (const auto& p : pts) {
    cost::StepCost s = cost::predict(w.model(), w.cluster(), w.training(), p.layout);
    EXPECT_DOUBLE_EQ(p.tokens_per_s, s.tokens_per_s);
    EXPECT_DOUBLE_EQ(p.mfu, s.mfu);
    EXPECT_EQ(p.layout.gpus(), p.gpus);
  }
}

TEST(MainWindow, CancelStopsABackgroundSearch) {
  MainWindow w;
  w.start_scaling_sweep();  // GPT-3 175B on up to 1,024 GPUs: long enough to cancel
  w.cancel_search();
  ASSERT_TRUE(wait_for_runner(w, 30000));
  EXPECT_FALSE(w.runner()->running());
  expect_charts_show(w, design_example());  // the live view is untouched
}

TEST(MainWindow, WorkspaceRoundTripsInputsLayoutAndMeasurements) {
  auto measured = temp_file("measured.json");
  auto ws = temp_file("workspace.json");
  Layout l;
  l.dp = 2;
  l.tp = 2;
  {
    Plan p{load_model("shakespeare-char"),    load_cluster("dgx-a100-80g"),
           load_training("shakespeare-char"), l,
           nlohmann::json::object(),          nlohmann::json::array()};
    nlohmann::json j = {{"mean_step_time_s", 0.05},
                        {"tokens_per_s", 64 * 256 / 0.05},
                        {"mfu", 0.02},
                        {"plan", parplan::to_json(p)}};
    write_file_atomic(measured.string(), j.dump());
  }
  {
    MainWindow w;
    ASSERT_TRUE(w.set_model("shakespeare-char"));
    ASSERT_TRUE(w.set_training("shakespeare-char"));
    ASSERT_TRUE(w.set_gpus(4));
    w.apply_layout(l);
    ASSERT_TRUE(w.add_measured(QString::fromStdString(measured.string())))
        << w.status_text().toStdString();
    EXPECT_EQ(w.measured_chart()->runs_series()->count(), 1);
    EXPECT_DOUBLE_EQ(w.measured_chart()->runs_series()->at(0).x(), 0.05);
    EXPECT_DOUBLE_EQ(w.measured_chart()->runs_series()->at(0).y(),
                     cost::predict(w.model(), w.cluster(), w.training(), l).step_time_s);
    ASSERT_TRUE(w.save_workspace(QString::fromStdString(ws.string())));
  }
  MainWindow w2;
  ASSERT_TRUE(w2.load_workspace(QString::fromStdString(ws.string())))
      << w2.status_text().toStdString();
  EXPECT_EQ(w2.model().name, "shakespeare-char");
  EXPECT_EQ(w2.gpus(), 4);
  EXPECT_EQ(w2.training().seq_len, 256);
  ASSERT_EQ(w2.measured().size(), 1u);
  EXPECT_EQ(w2.measured_chart()->runs_series()->count(), 1);
  expect_charts_show(w2, l);
  std::filesystem::remove(measured);
  std::filesystem::remove(ws);
}

TEST(MainWindow, ExportsThePlanAndFrameworkArguments) {
  MainWindow w;
  auto plan = temp_file("plan.json");
  auto megatron = temp_file("megatron.txt");
  auto ds = temp_file("ds_config.json");
  ASSERT_TRUE(w.export_plan("plan", QString::fromStdString(plan.string())));
  Plan p = load_plan(plan.string());
  EXPECT_EQ(p.layout, design_example());
  EXPECT_EQ(p.model.name, "gpt3-175b");
  ASSERT_TRUE(w.export_plan("megatron", QString::fromStdString(megatron.string())));
  EXPECT_FALSE(read_file(megatron.string()).empty());
  // Selective recomputation: plain DeepSpeed refuses it (it would run as full), Megatron-DeepSpeed
  // has Megatron's flag for it.
  EXPECT_FALSE(w.export_plan("deepspeed", QString::fromStdString(ds.string())));
  ASSERT_TRUE(w.export_plan("megatron-deepspeed", QString::fromStdString(ds.string())));
  EXPECT_NE(read_file(ds.string()).find("--recompute-granularity selective"), std::string::npos);
  EXPECT_FALSE(w.export_plan("nonsense", QString::fromStdString(ds.string())));
  for (const auto& f : {plan, megatron, ds}) std::filesystem::remove(f);
}

}  // namespace
}  // namespace parplan::gui
