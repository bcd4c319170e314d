#pragma once
// Runs one long job (a planner search, a scaling sweep) on a worker thread so the window stays
// fluid. The job reports progress into an atomic the runner polls, stops when `cancel` is set,
// and returns a function that the runner calls on the GUI thread to show its result.
#include <QObject>
#include <QTimer>
#include <atomic>
#include <functional>
#include <memory>
#include <thread>

namespace parplan::gui {

class SearchRunner : public QObject {
  Q_OBJECT
 public:
  struct Control {
    std::atomic<double> progress{0.0};  // 0..1, written by the job
    std::atomic<bool> cancel{false};    // set by cancel(); the job passes it to SearchOptions
  };
  // Runs on the worker thread; the returned function runs on the GUI thread (may be empty).
  using Job = std::function<std::function<void()>(Control&)>;

  explicit SearchRunner(QObject* parent = nullptr);
  ~SearchRunner() override;

  // Cancels and waits for a running job first.
  void start(Job job);
  void cancel();
  bool running() const { return running_; }

 signals:
  void started();
  void progressChanged(double fraction);
  // After the result function ran (or the job failed: message non-empty).
  void finished(bool cancelled, const QString& error);

 private:
  void join();
  void poll();

  std::unique_ptr<Control> control_;
  std::thread worker_;
  QTimer poll_timer_;
  bool running_ = false;
  unsigned generation_ = 0;
};

}  // namespace parplan::gui
