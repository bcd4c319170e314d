#include "charts/time_chart.hpp"

#include <QBarCategoryAxis>
#include <QBarSet>
#include <QHorizontalStackedBarSeries>
#include <QValueAxis>

#include "charts/chart_style.hpp"

namespace parplan::gui {

QStringList TimeChart::labels() {
  return {"compute", "TP comm", "CP comm", "PP comm", "PP bubble", "DP comm", "optimizer step"};
}

TimeChart::TimeChart(QWidget* parent) : QChartView(parent) {
  setObjectName("timeChart");
  setRenderHint(QPainter::Antialiasing);
  auto* chart = new QChart;
  style_chart(chart, "Step time");
  auto* bars = new QHorizontalStackedBarSeries;
  bars->setBarWidth(0.45);
  sets_ = add_bar_sets(bars, labels());
  chart->addSeries(bars);
  auto* ay = new QBarCategoryAxis;
  ay->append("step");
  chart->addAxis(ay, Qt::AlignLeft);
  bars->attachAxis(ay);
  axis_x_ = new QValueAxis;
  axis_x_->setTitleText("seconds per step");
  chart->addAxis(axis_x_, Qt::AlignBottom);
  bars->attachAxis(axis_x_);
  chart->legend()->setAlignment(Qt::AlignRight);
  setChart(chart);
  setMinimumSize(300, 260);
}

void TimeChart::show_cost(const cost::StepCost& s) {
  const auto& t = s.time;
  const double v[] = {t.compute,   t.tp_comm,         t.cp_comm,  t.pp_comm,
                      t.pp_bubble, t.dp_comm_exposed, t.optimizer};
  scale_ = s.step_time_s < 1.0 ? 1000.0 : 1.0;
  axis_x_->setTitleText(scale_ > 1 ? "milliseconds per step" : "seconds per step");
  double sum = 0;
  const QStringList names = labels();
  for (int i = 0; i < sets_.size(); ++i) {
    sets_[i]->replace(0, v[i] * scale_);
    double share = s.step_time_s > 0 ? v[i] / s.step_time_s : 0;
    sets_[i]->setLabel(
        QString("%1  %2 (%3)").arg(names[i], format_seconds(v[i]), format_percent(share)));
    sum += v[i] * scale_;
  }
  double top = std::max(sum, s.step_time_s * scale_) * 1.08;
  axis_x_->setRange(0, top > 0 ? top : 1);
  axis_x_->applyNiceNumbers();
  chart()->setTitle(
      QString("Step time %1: %2 tokens/s, MFU %3")
          .arg(format_seconds(s.step_time_s), format_rate(s.tokens_per_s), format_percent(s.mfu)));
}

void TimeChart::clear(const QString& why) {
  for (int i = 0; i < sets_.size(); ++i) {
    sets_[i]->replace(0, 0.0);
    sets_[i]->setLabel(labels()[i]);
  }
  chart()->setTitle("Step time: " + why);
}

double TimeChart::value_seconds(const QString& label) const {
  int i = int(labels().indexOf(label));
  return i >= 0 ? sets_[i]->at(0) / scale_ : -1;
}

}  // namespace parplan::gui
