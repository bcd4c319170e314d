#pragma once
// Helpers for driving the window the way a user does: pick values in the named controls and
// let the event loop run until background work is done.
#include <gtest/gtest.h>

#include <QComboBox>
#include <QCoreApplication>
#include <QElapsedTimer>
#include <QImage>
#include <QPixmap>
#include <QThread>
#include <filesystem>
#include <iostream>
#include <string>
#include <functional>
#include <ostream>

#include "main_window.hpp"
#include "search_runner.hpp"

namespace parplan {
// gtest prints layouts as their description instead of raw bytes.
inline void PrintTo(const Layout& l, std::ostream* os) {
  *os << describe(l);
}
}  // namespace parplan

namespace parplan::gui::test {

inline bool wait_for(const std::function<bool()>& done, int timeout_ms = 60000) {
  QElapsedTimer t;
  t.start();
  while (!done() && t.elapsed() < timeout_ms) {
    QCoreApplication::processEvents(QEventLoop::AllEvents, 20);
    QThread::msleep(2);
  }
  QCoreApplication::processEvents();
  return done();
}

inline bool wait_for_runner(MainWindow& w, int timeout_ms = 60000) {
  return wait_for([&] { return !w.runner()->running(); }, timeout_ms);
}

// Selects `value` (item data) in the combo box named `name`, as a user would.
inline void choose(MainWindow& w, const char* name, int value) {
  auto* box = w.findChild<QComboBox*>(name);
  ASSERT_NE(box, nullptr) << name;
  int i = box->findData(value);
  ASSERT_GE(i, 0) << name << " offers no " << value;
  box->setCurrentIndex(i);
}

// build/gui_screenshots/, where the GUI tests write their PNGs.
inline std::filesystem::path shot_dir() {
  auto dir = std::filesystem::path(PARPLAN_BINARY_DIR) / "gui_screenshots";
  std::filesystem::create_directories(dir);
  return dir;
}

// Saves the window at 1500 x 980 and checks the picture is not blank.
inline void save_shot(MainWindow& w, const std::string& name) {
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

}  // namespace parplan::gui::test
