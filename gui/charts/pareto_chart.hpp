#pragma once
// Time-to-train against cost (or GPU-hours) of the best plan at each GPU count, GPU counts as
// point labels, the Pareto front highlighted and joined; log axes when a range spans a decade.
#include <QChartView>
#include <vector>

#include "parplan/planner/sweep.hpp"

class QLineSeries;
class QScatterSeries;

namespace parplan::gui {

class ParetoChart : public QChartView {
  Q_OBJECT
 public:
  explicit ParetoChart(QWidget* parent = nullptr);

  // `what` names the inputs in the title; rows need their run (train.tokens > 0).
  void show_rows(const std::vector<planner::SweepRow>& rows, const QString& what);
  void clear(const QString& why);
  const std::vector<planner::SweepRow>& rows() const { return rows_; }
  QLineSeries* front_line() const { return front_line_; }
  int front_points() const;  // points drawn as on the front
  bool log_x() const { return log_x_; }
  bool log_y() const { return log_y_; }

 private:
  void reset_chart(const QString& title);

  std::vector<planner::SweepRow> rows_;
  QLineSeries* front_line_ = nullptr;
  std::vector<QScatterSeries*> points_;
  bool log_x_ = false, log_y_ = false;
};

}  // namespace parplan::gui
