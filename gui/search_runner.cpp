#include "search_runner.hpp"

#include <exception>

namespace parplan::gui {

SearchRunner::SearchRunner(QObject* parent) : QObject(parent) {
  poll_timer_.setInterval(50);
  connect(&poll_timer_, &QTimer::timeout, this, &SearchRunner::poll);
}

SearchRunner::~SearchRunner() {
  cancel();
  join();
}

void SearchRunner::cancel() {
  if (control_) control_->cancel = true;
}

void SearchRunner::join() {
  if (worker_.joinable()) worker_.join();
}

void SearchRunner::poll() {
  if (control_) emit progressChanged(control_->progress.load());
}

void SearchRunner::start(Job job) {
  cancel();
  join();
  control_ = std::make_unique<Control>();
  running_ = true;
  unsigned gen = ++generation_;
  Control* ctl = control_.get();
  emit started();
  emit progressChanged(0.0);
  poll_timer_.start();
  worker_ = std::thread([this, gen, ctl, job = std::move(job)] {
    std::function<void()> apply;
    QString error;
    try {
      apply = job(*ctl);
    } catch (const std::exception& e) {
      error = QString::fromStdString(e.what());
    }
    bool cancelled = ctl->cancel.load();
    // Queued onto the GUI thread; dropped if the runner is gone by then.
    QMetaObject::invokeMethod(
        this,
        [this, gen, cancelled, error, apply = std::move(apply)] {
          if (gen != generation_) return;  // superseded by a newer job
          join();
          poll_timer_.stop();
          running_ = false;
          QString err = error;
          if (apply && err.isEmpty()) {
            try {
              apply();
            } catch (const std::exception& e) {
              err = QString::fromStdString(e.what());
            }
          }
          emit progressChanged(1.0);
          emit finished(cancelled, err);
        },
        Qt::QueuedConnection);
  });
}

}  // namespace parplan::gui
