#pragma once
// The whole run of the layout on display: the token budget and checkpoint mode as inputs;
// steps, time-to-train (with goodput), GPU-hours, cost, energy and the checkpoint interval as
// computed by cost::run_cost.
#include <QWidget>
#include <optional>

#include "parplan/cost/run.hpp"

class QCheckBox;
class QDoubleSpinBox;
class QLabel;

namespace parplan::gui {

class RunPanel : public QWidget {
  Q_OBJECT
 public:
  explicit RunPanel(QWidget* parent = nullptr);

  void set_inputs(double tokens, bool async_checkpoint);  // no signals
  // The run to show, or none with the reason.
  void show_run(const std::optional<cost::RunCost>& run, const QString& why_none);
  QString text() const;

 signals:
  void tokensChanged(double tokens);
  void asyncCheckpointChanged(bool on);

 private:
  QDoubleSpinBox* tokens_ = nullptr;  // billions of tokens
  QCheckBox* async_ = nullptr;
  QLabel* view_ = nullptr;
};

}  // namespace parplan::gui
