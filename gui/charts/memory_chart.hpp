#pragma once
// Memory per GPU as a stacked bar (params, grads, optimizer, activations, buffers, reserve) in
// GiB against the GPU's capacity line, drawn from cost::MemoryBreakdown.
#include <QChartView>
#include <QStringList>

#include "parplan/cost/memory.hpp"

class QBarSet;
class QLineSeries;
class QValueAxis;

namespace parplan::gui {

class MemoryChart : public QChartView {
  Q_OBJECT
 public:
  explicit MemoryChart(QWidget* parent = nullptr);

  void show_breakdown(const cost::MemoryBreakdown& m);
  void clear(const QString& why);  // no valid layout: empty bar, reason in the title

  // What the series hold now, in GiB, by set label ("params", ..., "reserve"), and the capacity.
  double value_GiB(const QString& label) const;
  double capacity_GiB() const;
  static QStringList labels();

 private:
  QList<QBarSet*> sets_;
  QLineSeries* capacity_ = nullptr;
  QValueAxis* axis_y_ = nullptr;
};

}  // namespace parplan::gui
