#include "charts/memory_chart.hpp"

#include <QBarCategoryAxis>
#include <QBarSet>
#include <QLineSeries>
#include <QPen>
#include <QStackedBarSeries>
#include <QValueAxis>
#include <algorithm>

#include "charts/chart_style.hpp"

namespace parplan::gui {

namespace {
constexpr double kGiB = double(1ull << 30);
}

QStringList MemoryChart::labels() {
  return {"params", "grads", "optimizer", "activations", "buffers", "reserve"};
}

MemoryChart::MemoryChart(QWidget* parent) : QChartView(parent) {
  setObjectName("memoryChart");
  setRenderHint(QPainter::Antialiasing);
  auto* chart = new QChart;
  style_chart(chart, "Memory per GPU");
  auto* bars = new QStackedBarSeries;
  bars->setBarWidth(0.6);
  sets_ = add_bar_sets(bars, labels());
  chart->addSeries(bars);
  capacity_ = new QLineSeries;
  capacity_->setName("capacity");
  QPen pen(series_color("capacity"));
  pen.setWidthF(2.5);
  pen.setStyle(Qt::DashLine);
  capacity_->setPen(pen);
  capacity_->append(-0.5, 0);
  capacity_->append(0.5, 0);
  chart->addSeries(capacity_);

  auto* ax = new QBarCategoryAxis;
  ax->append("peak GPU");
  chart->addAxis(ax, Qt::AlignBottom);
  bars->attachAxis(ax);
  // The line lives on a hidden value axis spanning the one category (-0.5 .. 0.5).
  auto* ax_line = new QValueAxis;
  ax_line->setRange(-0.5, 0.5);
  ax_line->setVisible(false);
  chart->addAxis(ax_line, Qt::AlignBottom);
  capacity_->attachAxis(ax_line);

  axis_y_ = new QValueAxis;
  axis_y_->setTitleText("GiB per GPU");
  axis_y_->setLabelFormat("%.0f");
  chart->addAxis(axis_y_, Qt::AlignLeft);
  bars->attachAxis(axis_y_);
  capacity_->attachAxis(axis_y_);
  chart->legend()->setAlignment(Qt::AlignRight);
  setChart(chart);
  setMinimumSize(300, 260);
}

void MemoryChart::show_breakdown(const cost::MemoryBreakdown& m) {
  const double v[] = {m.params, m.grads, m.optimizer, m.activations, m.buffers, m.reserve};
  const QStringList names = labels();
  for (int i = 0; i < sets_.size(); ++i) {
    sets_[i]->replace(0, v[i] / kGiB);
    sets_[i]->setLabel(QString("%1  %2").arg(names[i], format_gib(v[i])));
  }
  capacity_->replace(0, -0.5, m.capacity / kGiB);
  capacity_->replace(1, 0.5, m.capacity / kGiB);
  capacity_->setName("capacity  " + format_gib(m.capacity));
  double top = std::max(m.total, m.capacity) / kGiB * 1.12;
  axis_y_->setRange(0, top > 0 ? top : 1);
  axis_y_->applyNiceNumbers();
  QString verdict = m.fits ? "fits" : "DOES NOT FIT";
  chart()->setTitle(QString("Memory per GPU (stage %1): %2 of %3, %4")
                        .arg(m.stage)
                        .arg(format_gib(m.total), format_gib(m.capacity), verdict));
}

void MemoryChart::clear(const QString& why) {
  for (int i = 0; i < sets_.size(); ++i) {
    sets_[i]->replace(0, 0.0);
    sets_[i]->setLabel(labels()[i]);
  }
  chart()->setTitle("Memory per GPU: " + why);
}

double MemoryChart::value_GiB(const QString& label) const {
  int i = int(labels().indexOf(label));
  return i >= 0 ? sets_[i]->at(0) : -1;
}

double MemoryChart::capacity_GiB() const {
  return capacity_->at(0).y();
}

}  // namespace parplan::gui
