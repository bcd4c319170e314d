#include "run_panel.hpp"

#include <QCheckBox>
#include <QDoubleSpinBox>
#include <QFormLayout>
#include <QHBoxLayout>
#include <QLabel>
#include <QSignalBlocker>
#include <QVBoxLayout>

#include "charts/chart_style.hpp"

namespace parplan::gui {

RunPanel::RunPanel(QWidget* parent) : QWidget(parent) {
  setObjectName("runPanel");
  auto* v = new QVBoxLayout(this);
  auto* row = new QHBoxLayout;
  row->addWidget(new QLabel("Token budget:"));
  tokens_ = new QDoubleSpinBox;
  tokens_->setObjectName("tokens");
  tokens_->setRange(0, 1e6);
  tokens_->setDecimals(1);
  tokens_->setSuffix(" B tokens");
  tokens_->setSpecialValueText("none (per step only)");
  tokens_->setToolTip("train.tokens: total training tokens, in billions (Llama 3 405B: 15,600)");
  row->addWidget(tokens_);
  async_ = new QCheckBox("asynchronous checkpoints");
  async_->setObjectName("asyncCheckpoint");
  row->addWidget(async_);
  row->addStretch(1);
  v->addLayout(row);
  view_ = new QLabel;
  view_->setObjectName("runView");
  view_->setTextFormat(Qt::RichText);
  view_->setWordWrap(true);
  view_->setAlignment(Qt::AlignTop | Qt::AlignLeft);
  view_->setTextInteractionFlags(Qt::TextSelectableByMouse);
  v->addWidget(view_, 1);
  connect(tokens_, &QDoubleSpinBox::valueChanged, this,
          [this](double b) { emit tokensChanged(b * 1e9); });
  connect(async_, &QCheckBox::toggled, this, &RunPanel::asyncCheckpointChanged);
  show_run(std::nullopt, "Set a token budget to see time-to-train, cost and energy.");
}

void RunPanel::set_inputs(double tokens, bool async_checkpoint) {
  QSignalBlocker b1(tokens_), b2(async_);
  tokens_->setValue(tokens / 1e9);
  async_->setChecked(async_checkpoint);
}

QString RunPanel::text() const { return view_->text(); }

void RunPanel::show_run(const std::optional<cost::RunCost>& run, const QString& why_none) {
  if (!run) {
    view_->setText("<i>" + why_none.toHtmlEscaped() + "</i>");
    return;
  }
  const cost::RunCost& r = *run;
  const cost::Goodput& g = r.goodput;
  auto hd = [](double s) { return QString::fromStdString(cost::human_duration(s)); };
  auto row = [](const QString& k, const QString& v) {
    return "<tr><td style='padding-right:14px'><b>" + k + "</b></td><td>" + v + "</td></tr>";
  };
  QString html = "<table>";
  html += row("time to train", hd(r.wall_s) + " wall, " + hd(r.compute_s) + " of steps");
  html += row("goodput", format_percent(g.goodput));
  html += row("steps", QString::number(r.steps, 'f', 0) +
                           (r.stages.size() > 1 ? QString(" in %1 batch-ramp stages").arg(r.stages.size())
                                                : QString()));
  html += row("GPU-hours", QString::number(r.gpu_hours, 'g', 4) + QString(" on %1 GPUs").arg(r.gpus));
  if (r.cost > 0)
    html += row("cost", QString::number(r.cost, 'g', 4) + " " + QString::fromStdString(r.currency));
  if (r.energy_kWh > 0)
    html += row("energy", QString::number(r.energy_kWh / 1000, 'g', 4) + " MWh at " +
                              QString::number(r.average_power_kW, 'f', 0) + " kW (PUE included)");
  html += row("checkpoint", format_gib(g.checkpoint_bytes) +
                                (g.interval_s > 0 ? ", every " + hd(g.interval_s) + " (Young/Daly), " +
                                                        format_seconds(g.checkpoint_s) + " stall"
                                                  : QString()));
  if (g.job_mtbf_s > 0)
    html += row("failures", QString::number(g.expected_failures, 'f', 0) + " expected (job MTBF " +
                                hd(g.job_mtbf_s) + "), " + hd(g.lost_work_s) + " lost");
  html += "</table>";
  if (!r.notes.empty()) {
    html += "<p style='color:#805000'>";
    for (const auto& n : r.notes) html += QString::fromStdString(n).toHtmlEscaped() + "<br>";
    html += "</p>";
  }
  html += "<p style='color:#606060'><i>Computed by the cost model (cost/run.cpp), not measured.</i></p>";
  view_->setText(html);
}

}  // namespace parplan::gui
