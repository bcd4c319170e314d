#include "charts/measured_chart.hpp"

#include <QLineSeries>
#include <QPen>
#include <QScatterSeries>
#include <QValueAxis>
#include <algorithm>

#include "charts/chart_style.hpp"

namespace parplan::gui {

MeasuredChart::MeasuredChart(QWidget* parent) : QChartView(parent) {
  setObjectName("measuredChart");
  setRenderHint(QPainter::Antialiasing);
  auto* chart = new QChart;
  style_chart(chart, "Predicted vs measured: load measured.json files");
  diagonal_ = new QLineSeries;
  diagonal_->setName("prediction = measurement");
  QPen pen(QColor(0x70, 0x70, 0x70));
  pen.setStyle(Qt::DashLine);
  pen.setWidthF(1.5);
  diagonal_->setPen(pen);
  dots_ = new QScatterSeries;
  dots_->setName("measured runs");
  dots_->setColor(series_color("activations"));
  dots_->setMarkerSize(10);
  chart->addSeries(diagonal_);
  chart->addSeries(dots_);
  axis_x_ = new QValueAxis;
  axis_x_->setLabelFormat("%g");
  axis_x_->setTitleText("measured step time (s)");
  axis_y_ = new QValueAxis;
  axis_y_->setLabelFormat("%g");
  axis_y_->setTitleText("predicted step time (s)");
  chart->addAxis(axis_x_, Qt::AlignBottom);
  chart->addAxis(axis_y_, Qt::AlignLeft);
  for (QXYSeries* s : {static_cast<QXYSeries*>(diagonal_), static_cast<QXYSeries*>(dots_)}) {
    s->attachAxis(axis_x_);
    s->attachAxis(axis_y_);
  }
  axis_x_->setRange(0, 1);
  axis_y_->setRange(0, 1);
  setChart(chart);
  setMinimumSize(300, 260);
}

void MeasuredChart::show_runs(const std::vector<MeasuredRun>& runs) {
  QList<QPointF> pts;
  double hi = 0;
  for (const auto& r : runs) {
    pts.append(QPointF(r.measured_step_s, r.predicted_step_s));
    hi = std::max({hi, r.measured_step_s, r.predicted_step_s});
  }
  dots_->replace(pts);
  if (!(hi > 0)) hi = 1;
  hi *= 1.15;
  for (QValueAxis* a : {axis_x_, axis_y_}) {
    a->setTickCount(5);
    a->setRange(0, hi);
    a->applyNiceNumbers();
  }
  double top = std::max(axis_x_->max(), axis_y_->max());
  axis_x_->setMax(top);
  axis_y_->setMax(top);
  diagonal_->replace(QList<QPointF>{{0, 0}, {top, top}});
  chart()->setTitle(runs.empty()
                        ? "Predicted vs measured: load measured.json files"
                        : QString("Predicted vs measured step time: %1 runs, mean |error| %2")
                              .arg(runs.size())
                              .arg(format_percent(mean_abs_step_error(runs))));
}

}  // namespace parplan::gui
