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

std::filesystem::path shot_dir() {
  auto dir = std::filesystem::path(PARPLAN_BINARY_DIR) / "gui_screenshots";
  std::filesystem::create_directories(dir);
  return dir;
}

// Saves the window and checks the picture is not blank.
void save_shot(MainWindow& w, const std::string& name) {
  w.resize(1500, 980);
  w.show();
  QCoreApplication::processEvents();
  auto path = shot_dir() / name;
  QPixmap pix = w.grab();
  ASSERT_TRUE(pix.save(QString::fromStdString(path.string())));
  QImage img = pix.toImage();
  EXPECT_EQ(img.width(), 1500);
  int distinct = 0;
  QRgb first = img.pixel(0, 0);
  for (int y = 0; y < img.height(); y += 37)
    for (int x = 0; x < img.width(); x += 41) distinct += img.pixel(x, y) != first;
  EXPECT_GT(distinct, 100) << "screenshot looks blank: " << path;
  std::cout << "wrote " << path.string() << "\n";
}

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
