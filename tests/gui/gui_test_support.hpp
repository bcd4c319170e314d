#pragma once
// Helpers for driving the window the way a user does: pick values in the named controls and
// let the event loop run until background work is done.
#include <gtest/gtest.h>

#include <QComboBox>
#include <QCoreApplication>
#include <QElapsedTimer>
#include <QThread>
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

}  // namespace parplan::gui::test
