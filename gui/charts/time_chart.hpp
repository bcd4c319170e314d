#pragma once
// Step time as one stacked bar (compute, TP / CP / PP communication, pipeline bubble, exposed DP
// communication, optimizer step), drawn from cost::TimeBreakdown; s or ms by the step's size.
#include <QChartView>
#include <QStringList>

#include "parplan/cost/step.hpp"

class QBarSet;
class QValueAxis;

namespace parplan::gui {

class TimeChart : public QChartView {
  Q_OBJECT
 public:
  explicit TimeChart(QWidget* parent = nullptr);

  void show_cost(const cost::StepCost& s);
  void clear(const QString& why);

  // What the series hold now, converted back to seconds, by set label.
  double value_seconds(const QString& label) const;
  static QStringList labels();

 private:
  QList<QBarSet*> sets_;
  QValueAxis* axis_x_ = nullptr;
  double scale_ = 1.0;  // displayed unit per second (1 or 1000)
};

}  // namespace parplan::gui
