#include "charts/scaling_chart.hpp"

#include <QLegend>
#include <QLegendMarker>
#include <QLineSeries>
#include <QLogValueAxis>
#include <QPen>
#include <QScatterSeries>
#include <QValueAxis>
#include <algorithm>

#include "charts/chart_style.hpp"

namespace parplan::gui {

ScalingChart::ScalingChart(QWidget* parent) : QChartView(parent) {
  setObjectName("scalingChart");
  setRenderHint(QPainter::Antialiasing);
  auto* chart = new QChart;
  style_chart(chart, "Scaling: run the sweep to fill this chart");

  auto line = [&](const QString& name) {
    auto* s = new QLineSeries;
    s->setName(name);
    QPen pen(series_color(name));
    pen.setWidthF(2.2);
    s->setPen(pen);
    chart->addSeries(s);
    return s;
  };
  auto dots = [&](const QString& name) {
    auto* s = new QScatterSeries;
    s->setColor(series_color(name));
    s->setBorderColor(series_color(name));
    s->setMarkerSize(8);
    chart->addSeries(s);
    return s;
  };
  tokens_ = line("tokens/s");
  mfu_ = line("MFU");
  tokens_dots_ = dots("tokens/s");
  mfu_dots_ = dots("MFU");

  axis_x_ = new QLogValueAxis;
  axis_x_->setBase(2);
  axis_x_->setLabelFormat("%g");
  axis_x_->setTitleText("GPUs");
  axis_x_->setRange(1, 1024);
  axis_tokens_ = new QValueAxis;
  axis_tokens_->setTitleText("tokens/s");
  axis_tokens_->setLabelFormat("%.3g");
  axis_mfu_ = new QValueAxis;
  axis_mfu_->setTitleText("MFU (%)");
  axis_mfu_->setLabelFormat("%.0f");
  axis_mfu_->setRange(0, 100);
  chart->addAxis(axis_x_, Qt::AlignBottom);
  chart->addAxis(axis_tokens_, Qt::AlignLeft);
  chart->addAxis(axis_mfu_, Qt::AlignRight);
  for (auto* s : {static_cast<QXYSeries*>(tokens_), static_cast<QXYSeries*>(tokens_dots_)}) {
    s->attachAxis(axis_x_);
    s->attachAxis(axis_tokens_);
  }
  for (auto* s : {static_cast<QXYSeries*>(mfu_), static_cast<QXYSeries*>(mfu_dots_)}) {
    s->attachAxis(axis_x_);
    s->attachAxis(axis_mfu_);
  }
  // One legend entry per quantity: hide the marker series'.
  for (auto* m : chart->legend()->markers(tokens_dots_)) m->setVisible(false);
  for (auto* m : chart->legend()->markers(mfu_dots_)) m->setVisible(false);
  setChart(chart);
  setMinimumSize(300, 260);
}

void ScalingChart::show_points(const std::vector<ScalingPoint>& points, const QString& what) {
  points_ = points;
  double max_tok = 0, max_mfu = 0;
  int64_t max_g = 1;
  for (const auto& p : points) {
    max_tok = std::max(max_tok, p.tokens_per_s);
    max_mfu = std::max(max_mfu, p.mfu);
    max_g = std::max(max_g, p.gpus);
  }
  token_scale_ = max_tok >= 1e6 ? 1e6 : max_tok >= 1e3 ? 1e3 : 1.0;
  QString unit = token_scale_ == 1e6   ? "tokens/s (millions)"
                 : token_scale_ == 1e3 ? "tokens/s (thousands)"
                                       : "tokens/s";
  axis_tokens_->setTitleText(unit);
  QList<QPointF> tok, mfu;
  for (const auto& p : points) {
    tok.append(QPointF(double(p.gpus), p.tokens_per_s / token_scale_));
    mfu.append(QPointF(double(p.gpus), p.mfu * 100.0));
  }
  tokens_->replace(tok);
  tokens_dots_->replace(tok);
  mfu_->replace(mfu);
  mfu_dots_->replace(mfu);
  axis_x_->setRange(0.8, double(max_g) * 1.25);
  axis_tokens_->setRange(0, max_tok > 0 ? max_tok / token_scale_ * 1.1 : 1);
  axis_tokens_->applyNiceNumbers();
  axis_mfu_->setRange(0, std::max(10.0, max_mfu * 100.0 * 1.15));
  axis_mfu_->applyNiceNumbers();
  chart()->setTitle(points.empty() ? "Scaling: no GPU count fits " + what
                                   : "Scaling of the best layout per GPU count: " + what);
}

}  // namespace parplan::gui
