#pragma once
// Predicted tokens/s (left axis) and MFU (right axis) against GPU count (log2 axis), one point
// per GPU count: the planner's best layout at that size.
#include <QChartView>
#include <cstdint>
#include <vector>

#include "parplan/model/layout.hpp"

class QLineSeries;
class QScatterSeries;
class QLogValueAxis;
class QValueAxis;

namespace parplan::gui {

struct ScalingPoint {
  int64_t gpus = 0;
  double tokens_per_s = 0;
  double mfu = 0;
  double step_time_s = 0;
  Layout layout;
};

class ScalingChart : public QChartView {
  Q_OBJECT
 public:
  explicit ScalingChart(QWidget* parent = nullptr);

  // `what` names the inputs in the title ("gpt3-175b on dgx-a100-80g").
  void show_points(const std::vector<ScalingPoint>& points, const QString& what);
  const std::vector<ScalingPoint>& points() const { return points_; }
  QLineSeries* tokens_series() const { return tokens_; }
  QLineSeries* mfu_series() const { return mfu_; }

 private:
  std::vector<ScalingPoint> points_;
  QLineSeries* tokens_ = nullptr;
  QLineSeries* mfu_ = nullptr;
  QScatterSeries* tokens_dots_ = nullptr;
  QScatterSeries* mfu_dots_ = nullptr;
  QLogValueAxis* axis_x_ = nullptr;
  QValueAxis* axis_tokens_ = nullptr;
  QValueAxis* axis_mfu_ = nullptr;
  double token_scale_ = 1.0;
};

}  // namespace parplan::gui
