#pragma once
// Predicted vs measured step time, one dot per measured run, against the y = x line; the title
// gives the mean absolute error.
#include <QChartView>
#include <vector>

#include "measured.hpp"

class QLineSeries;
class QScatterSeries;
class QValueAxis;

namespace parplan::gui {

class MeasuredChart : public QChartView {
  Q_OBJECT
 public:
  explicit MeasuredChart(QWidget* parent = nullptr);

  void show_runs(const std::vector<MeasuredRun>& runs);
  QScatterSeries* runs_series() const { return dots_; }

 private:
  QScatterSeries* dots_ = nullptr;
  QLineSeries* diagonal_ = nullptr;
  QValueAxis* axis_x_ = nullptr;
  QValueAxis* axis_y_ = nullptr;
};

}  // namespace parplan::gui
