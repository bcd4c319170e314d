#include "charts/measured_chart.hpp"

#include <QLineSeries>
#include <QLogValueAxis>
#include <QPen>
#include <QScatterSeries>
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
  dots_->setPointLabelsVisible(true);
  dots_->setPointLabelsFormat("(@xPoint s, @yPoint s)");
  chart->addSeries(diagonal_);
  chart->addSeries(dots_);
  axis_x_ = new QLogValueAxis;
  axis_x_->setBase(10);
  axis_x_->setLabelFormat("%g");
  axis_x_->setTitleText("measured step time (s)");
  axis_y_ = new QLogValueAxis;
  axis_y_->setBase(10);
  axis_y_->setLabelFormat("%g");
  axis_y_->setTitleText("predicted step time (s)");
  chart->addAxis(axis_x_, Qt::AlignBottom);
  chart->addAxis(axis_y_, Qt::AlignLeft);
  for (QXYSeries* s : {static_cast<QXYSeries*>(diagonal_), static_cast<QXYSeries*>(dots_)}) {
    s->attachAxis(axis_x_);
    s->attachAxis(axis_y_);
  }
  axis_x_->setRange(0.01, 10);
  axis_y_->setRange(0.01, 10);
  setChart(chart);
  setMinimumSize(300, 260);
}

void MeasuredChart::show_runs(const std::vector<MeasuredRun>& runs) {
  QList<QPointF> pts;
  double lo = 1e300, hi = 0;
  for (const auto& r : runs) {
    pts.append(QPointF(r.measured_step_s, r.predicted_step_s));
    lo = std::min({lo, r.measured_step_s, r.predicted_step_s});
    hi = std::max({hi, r.measured_step_s, r.predicted_step_s});
  }
  dots_->replace(pts);
  if (runs.empty()) {
    lo = 0.01;
    hi = 10;
  }
  lo /= 2;
  hi *= 2;
  diagonal_->replace(QList<QPointF>{{lo, lo}, {hi, hi}});
  axis_x_->setRange(lo, hi);
  axis_y_->setRange(lo, hi);
  chart()->setTitle(runs.empty()
                        ? "Predicted vs measured: load measured.json files"
                        : QString("Predicted vs measured step time: %1 runs, mean |error| %2")
                              .arg(runs.size())
                              .arg(format_percent(mean_abs_step_error(runs))));
}

}  // namespace parplan::gui
