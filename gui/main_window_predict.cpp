// MainWindow's prediction on display: the status line, the metrics, the charts and the run panel
// after every change (split from main_window.cpp).
#include <QElapsedTimer>
#include <QLabel>

#include "charts/chart_style.hpp"
#include "charts/memory_chart.hpp"
#include "charts/time_chart.hpp"
#include "main_window.hpp"
#include "parplan/cost/intervals.hpp"
#include "parplan/cost/flops.hpp"
#include "parplan/cost/fp8.hpp"
#include "parplan/cost/run.hpp"
#include "run_panel.hpp"

namespace parplan::gui {

namespace {
QString qs(const std::string& s) { return QString::fromStdString(s); }
}  // namespace

QString MainWindow::inputs_title() const {
  return QString("%1 on %2, %3 GPUs").arg(qs(model_.name), qs(cluster_.name)).arg(gpus_);
}

namespace {
// The MFU convention, stated where MFU is shown, as the CLI states it (docs/design.md "MFU"): model
// FLOPs against the dense peak of the dtype the linear GEMMs run in, so never above 100%.
QString mfu_peak_text(const Cluster& c, const Training& t) {
  return QString("(of the %1 dense peak, %2 TFLOP/s per GPU)")
      .arg(to_string(cost::linear_gemm_dtype(t)))
      .arg(cost::utilization_peak_flops(c.gpu, t) / 1e12, 0, 'f', 0);
}

// "46.70B total, 12.88B active" (MoE: the routed experts a token skips are not active).
QString params_text(const Model& m) {
  const cost::ParamCount p = cost::count_params(m);
  return QString("%1B total, %2B active").arg(p.total / 1e9, 0, 'f', 2).arg(p.active / 1e9, 0, 'f', 2);
}
}  // namespace

void MainWindow::show_status(const QString& html, const QString& color) {
  status_->setText(html);
  status_->setStyleSheet(
      QString("QLabel#status { background: %1; border-radius: 4px; }").arg(color));
}

void MainWindow::show_error(const QString& what, const QString& message) {
  show_status("<b>Could not use the " + what.toHtmlEscaped() + ":</b> " +
                  message.toHtmlEscaped().replace("\n", "<br>"),
              "#f8d0d0");
}

QString MainWindow::status_text() const {
  return status_->text();
}

void MainWindow::update_prediction() {
  QElapsedTimer timer;
  timer.start();
  Diagnostics d;
  validate(model_, d, "model");
  validate(cluster_, d, "cluster");
  validate(training_, d, "train");
  if (d.ok()) validate(layout_, model_, cluster_, training_, d, "layout");
  if (d.ok() && layout_.gpus() > gpus_)
    d.error("layout", QString("uses %1 GPUs (dp*tp*pp*cp) but %2 are selected; lower a degree or "
                              "raise the GPU count")
                          .arg(layout_.gpus())
                          .arg(gpus_)
                          .toStdString());
  cost_.reset();
  QString error;
  if (d.ok()) {
    try {
      cost_ = cost::predict(model_, cluster_, training_, layout_);
    } catch (const std::exception& e) {
      error = qs(e.what());
    }
  } else {
    for (const auto& e : d.errors) error += (error.isEmpty() ? "" : "\n") + qs(e);
  }
  QStringList notes;
  for (const auto& w : d.warnings) notes << qs(w).toHtmlEscaped();
  if (!cost_) {
    memory_chart_->clear("invalid layout");
    time_chart_->clear("invalid layout");
    metrics_->setText("<i>No prediction: the combination is invalid.</i>");
    show_status("<b>Invalid combination:</b><br>" + error.toHtmlEscaped().replace("\n", "<br>"),
                "#f8d0d0");
  } else {
    const auto& s = *cost_;
    memory_chart_->show_breakdown(s.memory);
    time_chart_->show_cost(s);
    metrics_->setText(
        QString("<b>step</b> %1 &nbsp; <b>tokens/s</b> %2 &nbsp; <b>MFU</b> %3 &nbsp; "
                "<b>HFU</b> %4 %10 &nbsp; <b>TFLOP/s per GPU</b> %5 model, %6 hardware &nbsp; "
                "<b>micro-batches</b> %7 &nbsp; <b>exposed comm</b> %8 &nbsp; <b>parameters</b> %9")
            .arg(format_seconds(s.step_time_s), format_rate(s.tokens_per_s), format_percent(s.mfu),
                 format_percent(s.hfu))
            .arg(s.model_tflops_per_gpu, 0, 'f', 1)
            .arg(s.hardware_tflops_per_gpu, 0, 'f', 1)
            .arg(s.micro_batches)
            .arg(format_percent(s.exposed_comm_fraction))
            .arg(params_text(model_))
            .arg(mfu_peak_text(cluster_, training_)) +
        [&] {  // the corpus's interval for similar cases (cost/intervals.hpp)
          const cost::Interval iv = cost::prediction_interval(model_, cluster_, training_, s);
          return QString("<br><small>interval %1 - %2 per step, %3-%4 model TFLOP/s (%5 of the "
                         "published corpus)</small>")
              .arg(format_seconds(iv.step_lo), format_seconds(iv.step_hi))
              .arg(iv.tflops_lo, 0, 'f', 0)
              .arg(iv.tflops_hi, 0, 'f', 0)
              .arg(qs(iv.basis).toHtmlEscaped());
        }());
    if (layout_.gpus() < gpus_)
      notes << QString("uses %1 of the %2 GPUs (dp*tp*pp*cp)").arg(layout_.gpus()).arg(gpus_);
    QString head = QString("<b>%1</b>: %2 (%3 GPUs). ")
                       .arg(inputs_title().toHtmlEscaped(), qs(describe(layout_)).toHtmlEscaped())
                       .arg(layout_.gpus());
    if (s.fits)
      show_status(head +
                      QString("Fits: %1 of %2 per GPU.")
                          .arg(format_gib(s.memory.total), format_gib(s.memory.capacity)) +
                      (notes.isEmpty() ? "" : "<br>Note: " + notes.join("; ")),
                  "#d8f0d8");
    else
      show_status(head +
                      QString("<b>Does not fit</b>: needs %1 of %2 per GPU; raise ZeRO, "
                              "recomputation, TP or PP, or lower the micro-batch.")
                          .arg(format_gib(s.memory.total), format_gib(s.memory.capacity)) +
                      (notes.isEmpty() ? "" : "<br>Note: " + notes.join("; ")),
                  "#fbe8c0");
  }
  update_run_panel();
  last_update_ms_ = double(timer.nsecsElapsed()) / 1e6;
  timing_->setText(QString("cost model + charts: %1 ms").arg(last_update_ms_, 0, 'f', 1));
}

void MainWindow::update_run_panel() {
  if (!cost_) {
    run_panel_->show_run(std::nullopt, "No prediction: the combination is invalid.");
    return;
  }
  if (!(training_.tokens > 0)) {
    run_panel_->show_run(std::nullopt, "Set a token budget to see time-to-train, cost and energy.");
    return;
  }
  try {
    run_panel_->show_run(cost::run_cost(model_, cluster_, training_, layout_, *cost_), "");
  } catch (const std::exception& e) {
    run_panel_->show_run(std::nullopt, qs(e.what()));
  }
}

}  // namespace parplan::gui
