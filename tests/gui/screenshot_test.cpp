// Writes PNGs of the main window for the two example inputs under the build folder
// (gui_screenshots/), after a planner search so the table and rules are filled.
#include <gtest/gtest.h>

#include <QImage>
#include <QPixmap>
#include <QTabWidget>
#include <QTableWidget>
#include <filesystem>

#include "gui_test_support.hpp"
#include "main_window.hpp"
#include "parplan/cost/step.hpp"
#include "parplan/model/io.hpp"

namespace parplan::gui {
namespace {

using test::save_shot;
using test::shot_dir;

TEST(Screenshot, Gpt3On1024A100s) {
  MainWindow w;
  ASSERT_TRUE(w.set_model("gpt3-175b"));
  ASSERT_TRUE(w.set_cluster("dgx-a100-80g"));
  ASSERT_TRUE(w.set_training("gpt3-1536"));
  ASSERT_TRUE(w.set_gpus(1024));
  w.start_search();
  ASSERT_TRUE(test::wait_for_runner(w));
  w.planner_table()->setCurrentCell(0, 0);  // apply the best layout
  ASSERT_TRUE(w.prediction().has_value()) << w.status_text().toStdString();
  save_shot(w, "gpt3-175b_1024xA100.png");
}

TEST(Screenshot, ShakespeareCharOn4Gpus) {
  MainWindow w;
  ASSERT_TRUE(w.set_model("shakespeare-char"));
  ASSERT_TRUE(w.set_cluster("dgx-a100-80g"));
  ASSERT_TRUE(w.set_training("shakespeare-char"));
  ASSERT_TRUE(w.set_gpus(4));
  w.start_search();
  ASSERT_TRUE(test::wait_for_runner(w));
  w.planner_table()->setCurrentCell(0, 0);
  ASSERT_TRUE(w.prediction().has_value()) << w.status_text().toStdString();
  save_shot(w, "shakespeare-char_4gpus.png");
  // The scaling view of the same inputs (1, 2, 4, ... GPUs of the cluster would be long; the
  // sweep covers the whole cluster, so show it only for this small model).
  w.start_scaling_sweep();
  ASSERT_TRUE(test::wait_for_runner(w));
  save_shot(w, "shakespeare-char_scaling.png");

  // The predicted-vs-measured view, with two synthetic runs (prediction +-15 %) to check its
  // legibility; real ones come from `parplan run`.
  for (double factor : {0.85, 1.15}) {
    Layout l = w.layout();
    l.dp = factor < 1 ? 4 : 2;
    l.tp = factor < 1 ? 1 : 2;
    Plan p{
        w.model(), w.cluster(), w.training(), l, nlohmann::json::object(), nlohmann::json::array()};
    double pred = cost::predict(p.model, p.cluster, p.training, l).step_time_s;
    auto path =
        shot_dir() / (factor < 1 ? "synthetic_measured_a.json" : "synthetic_measured_b.json");
    nlohmann::json j = {{"mean_step_time_s", pred * factor},
                        {"tokens_per_s", 64 * 256 / (pred * factor)},
                        {"mfu", 0.4},
                        {"plan", parplan::to_json(p)}};
    write_file_atomic(path.string(), j.dump());
    ASSERT_TRUE(w.add_measured(QString::fromStdString(path.string())))
        << w.status_text().toStdString();
  }
  save_shot(w, "shakespeare-char_measured_synthetic.png");
}

}  // namespace
}  // namespace parplan::gui
