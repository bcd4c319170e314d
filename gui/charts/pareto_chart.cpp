#include "charts/pareto_chart.hpp"

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

namespace {
const QColor kFront(0xd6, 0x27, 0x28);
const QColor kOther(0x9a, 0x9a, 0x9a);
}  // namespace

ParetoChart::ParetoChart(QWidget* parent) : QChartView(parent) {
  setObjectName("paretoChart");
  setRenderHint(QPainter::Antialiasing);
  setMinimumSize(300, 260);
  reset_chart("Time-to-train vs cost: set a token budget (Run tab) and run the sweep");
}

void ParetoChart::reset_chart(const QString& title) {
  auto* chart = new QChart;
  style_chart(chart, title);
  points_.clear();
  front_line_ = new QLineSeries;
  front_line_->setName("Pareto front");
  QPen pen(kFront);
  pen.setWidthF(2.0);
  pen.setStyle(Qt::DashLine);
  front_line_->setPen(pen);
  chart->addSeries(front_line_);
  setChart(chart);  // deletes the previous chart and its series
}

void ParetoChart::clear(const QString& why) {
  rows_.clear();
  reset_chart(why);
}

int ParetoChart::front_points() const {
  int n = 0;
  for (const auto& r : rows_) n += r.feasible && r.pareto;
  return n;
}

void ParetoChart::show_rows(const std::vector<planner::SweepRow>& rows, const QString& what) {
  rows_ = rows;
  std::vector<const planner::SweepRow*> ok;
  for (const auto& r : rows_)
    if (r.feasible && r.run.wall_s > 0) ok.push_back(&r);
  if (ok.empty()) {
    reset_chart("Time-to-train vs cost: no GPU count has a plan for " + what);
    return;
  }
  const bool money = ok.front()->run.cost > 0;
  reset_chart("Time-to-train vs " + QString(money ? "cost" : "GPU-hours") + ": " + what);
  QChart* chart = this->chart();
  double x_lo = 1e300, x_hi = 0, y_lo = 1e300, y_hi = 0;
  std::vector<QPointF> front;
  for (const auto* r : ok) {
    const double x = r->run.wall_s / 86400.0, y = planner::cost_axis(*r);
    x_lo = std::min(x_lo, x);
    x_hi = std::max(x_hi, x);
    y_lo = std::min(y_lo, y);
    y_hi = std::max(y_hi, y);
    // One series per point, so each carries its GPU count as a literal point label.
    auto* s = new QScatterSeries;
    s->append(x, y);
    s->setMarkerSize(r->pareto ? 11 : 8);
    s->setColor(r->pareto ? kFront : kOther);
    s->setBorderColor((r->pareto ? kFront : kOther).darker(140));
    s->setPointLabelsFormat(QString::number(r->gpus) + " GPUs");
    s->setPointLabelsVisible(true);
    s->setPointLabelsClipping(false);
    s->setPointLabelsColor(r->pareto ? kFront.darker(130) : kOther.darker(160));
    chart->addSeries(s);
    points_.push_back(s);
    if (r->pareto) front.push_back({x, y});
  }
  std::sort(front.begin(), front.end(), [](auto& a, auto& b) { return a.x() < b.x(); });
  front_line_->replace(QList<QPointF>(front.begin(), front.end()));
  log_x_ = x_hi / x_lo > 10;
  log_y_ = y_hi / y_lo > 10;
  auto make_axis = [](bool log, double lo, double hi, const QString& title) -> QAbstractAxis* {
    if (log) {
      auto* a = new QLogValueAxis;
      a->setBase(10);
      a->setLabelFormat("%g");
      a->setRange(lo / 1.6, hi * 1.6);
      a->setTitleText(title + " (log)");
      return a;
    }
    auto* a = new QValueAxis;
    const double pad = (hi - lo) * 0.15 + hi * 0.02;
    a->setRange(std::max(0.0, lo - pad), hi + pad);
    a->setLabelFormat("%.3g");
    a->setTitleText(title);
    return a;
  };
  const QString y_title =
      money ? "cost (" + QString::fromStdString(ok.front()->run.currency) + ")" : "GPU-hours";
  QAbstractAxis* ax = make_axis(log_x_, x_lo, x_hi, "time to train (days)");
  QAbstractAxis* ay = make_axis(log_y_, y_lo, y_hi, y_title);
  chart->addAxis(ax, Qt::AlignBottom);
  chart->addAxis(ay, Qt::AlignLeft);
  front_line_->attachAxis(ax);
  front_line_->attachAxis(ay);
  for (auto* s : points_) {
    s->attachAxis(ax);
    s->attachAxis(ay);
    for (auto* m : chart->legend()->markers(s)) m->setVisible(false);
  }
}

}  // namespace parplan::gui
