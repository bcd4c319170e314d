// MainWindow's actions beyond the live prediction: planner search, scaling sweep, workspace
// files, measured runs and plan export.
#include <QComboBox>
#include <QFileDialog>
#include <QHeaderView>
#include <QLabel>
#include <QMenu>
#include <QStatusBar>
#include <QTabWidget>
#include <QTableWidget>
#include <QTextBrowser>
#include <QToolBar>
#include <QToolButton>

#include "charts/chart_style.hpp"
#include "charts/measured_chart.hpp"
#include "charts/pareto_chart.hpp"
#include "charts/scaling_chart.hpp"
#include "main_window.hpp"
#include "parplan/model/io.hpp"
#include "parplan/planner/export.hpp"
#include "parplan/planner/plan.hpp"
#include "search_runner.hpp"

namespace parplan::gui {

namespace {

QString qs(const std::string& s) {
  return QString::fromStdString(s);
}

QTableWidgetItem* cell(const QString& text, bool right = true) {
  auto* it = new QTableWidgetItem(text);
  if (right) it->setTextAlignment(Qt::AlignRight | Qt::AlignVCenter);
  return it;
}

const char* verdict_color(planner::Verdict v) {
  switch (v) {
    case planner::Verdict::Agrees:
      return "#2a7a2a";
    case planner::Verdict::Disagrees:
      return "#b02020";
    case planner::Verdict::NotApplicable:
      return "#707070";
  }
  return "#000000";
}

}  // namespace

void MainWindow::build_toolbar() {
  QToolBar* bar = addToolBar("File");
  bar->setObjectName("toolbar");
  bar->setMovable(false);
  bar->addAction("Open workspace…", this, [this] {
    QString p = QFileDialog::getOpenFileName(this, "Open workspace", {}, "JSON (*.json)");
    if (!p.isEmpty()) load_workspace(p);
  });
  bar->addAction("Save workspace…", this, [this] {
    QString p =
        QFileDialog::getSaveFileName(this, "Save workspace", "workspace.json", "JSON (*.json)");
    if (!p.isEmpty()) save_workspace(p);
  });
  bar->addAction("Load measured.json…", this, [this] {
    for (const QString& p :
         QFileDialog::getOpenFileNames(this, "Load measured.json", {}, "JSON (*.json)"))
      add_measured(p);
  });
  auto* menu = new QMenu(this);
  struct Item {
    const char* label;
    const char* format;
    const char* file;
  };
  for (const Item& it : {Item{"plan.json", "plan", "plan.json"},
                         Item{"Megatron-LM arguments", "megatron", "megatron_args.txt"},
                         Item{"DeepSpeed config", "deepspeed", "ds_config.json"},
                         Item{"torchrun launch line", "torchrun", "launch.sh"}}) {
    menu->addAction(it.label, this, [this, it] {
      QString p = QFileDialog::getSaveFileName(this, QString("Export ") + it.label, it.file);
      if (!p.isEmpty()) export_plan(it.format, p);
    });
  }
  auto* export_button = new QToolButton;
  export_button->setText("Export plan");
  export_button->setMenu(menu);
  export_button->setPopupMode(QToolButton::InstantPopup);
  bar->addWidget(export_button);
}

void MainWindow::cancel_search() {
  runner_->cancel();
}

void MainWindow::start_search() {
  Diagnostics d;
  validate(model_, d, "model");
  validate(cluster_, d, "cluster");
  validate(training_, d, "train");
  if (!d.ok()) {
    show_error("inputs", qs(d.errors.front()));
    return;
  }
  Model m = model_;
  Cluster c = cluster_;
  Training t = training_;
  int64_t g = gpus_;
  QString title = inputs_title();
  search_info_->setText("Searching " + title + "…");
  tabs_->setCurrentIndex(0);
  runner_->start([this, m, c, t, g, title](SearchRunner::Control& ctl) -> std::function<void()> {
    planner::SearchOptions o;
    o.gpus = g;
    o.top_k = 20;
    o.progress = [&ctl](double f) { ctl.progress = f; };
    o.cancel = &ctl.cancel;
    planner::SearchResult r = planner::search(m, c, t, o);
    std::vector<planner::RuleReport> rules;
    if (!r.cancelled) rules = planner::evaluate_rules(m, c, t, g, r);
    return [this, r = std::move(r), rules = std::move(rules), title] {
      search_ = r;
      rules_ = rules;
      search_title_ = title;
      show_search_result();
    };
  });
}

namespace {
// What a planner row sets beyond the columns: "usp u=2 shard=8 tiles=2 ep=8", "-" for nothing.
QString also_text(const Layout& l) {
  QStringList parts;
  if (l.cp > 1 && l.cp_kind != CpKind::Ring) {
    QString k = to_string(l.cp_kind);
    if (l.cp_kind == CpKind::Usp && l.ulysses > 0) k += QString(" u=%1").arg(l.ulysses);
    parts << k;
  }
  if (l.shard_group > 0 && l.shard_group < l.dp) parts << QString("shard=%1").arg(l.shard_group);
  if (l.tiles > 1) parts << QString("tiles=%1").arg(l.tiles);
  if (l.ep > 1) parts << QString("ep=%1").arg(l.ep);
  return parts.isEmpty() ? QString("-") : parts.join(' ');
}
}  // namespace

void MainWindow::show_search_result() {
  const auto& r = search_;
  search_info_->setText(
      QString("%1: %2 layouts evaluated, %3 fit, searched in %4%5. Click a row to apply it.")
          .arg(search_title_)
          .arg(r.evaluated)
          .arg(r.feasible)
          .arg(format_seconds(r.search_time_s))
          .arg(r.cancelled ? " (cancelled)" : ""));
  {
    QSignalBlocker block(planner_table_);
    planner_table_->setRowCount(int(r.top.size()));
    for (int i = 0; i < int(r.top.size()); ++i) {
      const Layout& l = r.top[size_t(i)].layout;
      const cost::StepCost& s = r.top[size_t(i)].cost;
      const QString row[] = {QString::number(i + 1),
                             QString::number(l.dp),
                             QString::number(l.tp),
                             QString::number(l.pp),
                             QString::number(l.cp),
                             QString::number(l.micro_batch),
                             QString::number(l.zero),
                             to_string(l.recompute),
                             l.sequence_parallel ? "yes" : "no",
                             l.pp > 1 ? to_string(l.schedule) : "-",
                             QString::number(l.virtual_stages),
                             to_string(l.offload),
                             also_text(l),
                             format_seconds(s.step_time_s),
                             format_rate(s.tokens_per_s),
                             format_percent(s.mfu),
                             format_gib(s.memory.total)};
      for (int c = 0; c < 17; ++c)
        planner_table_->setItem(i, c, cell(row[c], c != 7 && c != 9 && c != 11 && c != 12));
    }
    planner_table_->clearSelection();
    planner_table_->setCurrentCell(-1, -1);
  }
  planner_table_->resizeColumnsToContents();
  if (r.top.empty())
    search_info_->setText(search_info_->text() +
                          " <b>No layout fits</b>: add GPUs, or allow offload.");

  QString html;
  int fired = 0;
  for (const auto& rule : rules_) {
    if (!rule.fires) continue;
    ++fired;
    html += QString("<p><b>%1 %2</b> &mdash; <span style='color:%3'><b>%4</b></span><br>%5")
                .arg(qs(rule.id), qs(rule.name).toHtmlEscaped(), verdict_color(rule.verdict),
                     planner::to_string(rule.verdict), qs(rule.recommendation).toHtmlEscaped());
    if (!rule.detail.empty())
      html += "<br><span style='color:#505050'>" + qs(rule.detail).toHtmlEscaped() + "</span>";
    html += "</p>";
  }
  QStringList quiet;
  for (const auto& rule : rules_)
    if (!rule.fires) quiet << qs(rule.id + " " + rule.name);
  if (!quiet.isEmpty())
    html += "<p style='color:#808080'>Not applicable here: " + quiet.join(", ").toHtmlEscaped() +
            "</p>";
  rules_view_->setHtml(QString("<h4>Decision rules (%1 fire)</h4>").arg(fired) + html);
}

void MainWindow::start_scaling_sweep() {
  Diagnostics d;
  validate(model_, d, "model");
  validate(cluster_, d, "cluster");
  validate(training_, d, "train");
  if (!d.ok()) {
    show_error("inputs", qs(d.errors.front()));
    return;
  }
  std::vector<int64_t> sizes;
  int64_t total = cluster_.total_gpus();
  for (int64_t g = 1; g <= total; g *= 2) sizes.push_back(g);
  if (sizes.empty() || sizes.back() != total) sizes.push_back(total);
  Model m = model_;
  Cluster c = cluster_;
  Training t = training_;
  QString what = QString("%1 on %2").arg(qs(m.name), qs(c.name));
  tabs_->setCurrentIndex(1);
  runner_->start([this, m, c, t, sizes, what](SearchRunner::Control& ctl) -> std::function<void()> {
    std::vector<ScalingPoint> points;
    std::vector<planner::SweepRow> rows;  // with the whole run when train.tokens is set
    for (size_t i = 0; i < sizes.size() && !ctl.cancel; ++i) {
      planner::SearchOptions o;
      o.gpus = sizes[i];
      o.top_k = 1;
      o.progress = [&ctl, i, n = sizes.size()](double f) {
        ctl.progress = (double(i) + f) / double(n);
      };
      o.cancel = &ctl.cancel;
      planner::SearchResult r = planner::search(m, c, t, o);
      if (!r.top.empty() && !r.cancelled) {
        const auto& b = r.top.front();
        points.push_back({sizes[i], b.cost.tokens_per_s, b.cost.mfu, b.cost.step_time_s, b.layout});
        if (t.tokens > 0) {
          planner::SweepRow row;
          row.gpus = sizes[i];
          row.feasible = true;
          row.best = b;
          row.run = cost::run_cost(m, c, t, b.layout, b.cost);
          rows.push_back(row);
        }
      }
    }
    planner::mark_pareto(rows);
    const bool tokens = t.tokens > 0;
    return [this, points = std::move(points), rows = std::move(rows), what, tokens] {
      scaling_chart_->show_points(points, what);
      if (tokens) pareto_chart_->show_rows(rows, what);
      else pareto_chart_->clear("Time-to-train vs cost: set a token budget (Run tab) and rerun");
    };
  });
}

Workspace MainWindow::workspace() const {
  return Workspace{model_, cluster_, training_, gpus_, layout_, measured_};
}

void MainWindow::apply_workspace(const Workspace& w) {
  model_ = w.model;
  cluster_ = w.cluster;
  training_ = w.training;
  gpus_ = std::clamp<int64_t>(w.gpus, 1, std::max<int64_t>(1, cluster_.total_gpus()));
  layout_ = w.layout;
  measured_ = w.measured;
  auto entry = [](QComboBox* box, const QString& name, const nlohmann::json& j, InputKind kind) {
    QSignalBlocker block(box);
    QString stored = qs(j.dump());
    int i = box->findText(name);
    // A preset of the same name is kept when the content is the same.
    if (i >= 0 && box->itemData(i).toString() == name) {
      try {
        if (resolve_input(kind, name.toStdString()) == j) {
          box->setCurrentIndex(i);
          return;
        }
      } catch (const std::exception&) {
      }
      i = box->findText(name + " (workspace)");
    }
    if (i < 0) {
      box->addItem(name + " (workspace)", stored);
      i = box->count() - 1;
    } else {
      box->setItemData(i, stored);
    }
    box->setCurrentIndex(i);
  };
  entry(model_box_, qs(model_.name), to_json(model_), InputKind::Model);
  entry(cluster_box_, qs(cluster_.name), to_json(cluster_), InputKind::Cluster);
  entry(train_box_, "training", to_json(training_), InputKind::Training);
  sync_widgets();
  update_prediction();
  show_measured();
}

bool MainWindow::save_workspace(const QString& path) {
  try {
    gui::save_workspace(workspace(), path.toStdString());
    statusBar()->showMessage("Saved workspace to " + path, 5000);
    return true;
  } catch (const std::exception& e) {
    show_error("workspace file", e.what());
    return false;
  }
}

bool MainWindow::load_workspace(const QString& path) {
  try {
    apply_workspace(gui::load_workspace(path.toStdString()));
    statusBar()->showMessage("Loaded workspace " + path, 5000);
    return true;
  } catch (const std::exception& e) {
    show_error("workspace file", e.what());
    return false;
  }
}

bool MainWindow::add_measured(const QString& path) {
  try {
    measured_.push_back(load_measured(path.toStdString()));
    show_measured();
    tabs_->setCurrentIndex(2);
    return true;
  } catch (const std::exception& e) {
    show_error("measured run", e.what());
    return false;
  }
}

void MainWindow::clear_measured() {
  measured_.clear();
  show_measured();
}

void MainWindow::show_measured() {
  measured_chart_->show_runs(measured_);
  measured_table_->setRowCount(int(measured_.size()));
  for (int i = 0; i < int(measured_.size()); ++i) {
    const auto& r = measured_[size_t(i)];
    QString file = qs(r.source).section('/', -1);
    measured_table_->setItem(i, 0, cell(file, false));
    measured_table_->setItem(i, 1,
                             cell(QString("%1%2 %")
                                      .arg(r.step_error() >= 0 ? "+" : "")
                                      .arg(r.step_error() * 100, 0, 'f', 1)));
    measured_table_->setItem(i, 2, cell(format_seconds(r.measured_step_s)));
    measured_table_->setItem(i, 3, cell(format_seconds(r.predicted_step_s)));
    measured_table_->setItem(i, 4, cell(format_rate(r.measured_tokens_per_s)));
    measured_table_->setItem(i, 5, cell(format_rate(r.predicted_tokens_per_s)));
    measured_table_->setItem(
        i, 6, cell(format_percent(r.measured_mfu) + " / " + format_percent(r.predicted_mfu)));
    measured_table_->setItem(
        i, 7,
        cell(qs(r.plan.model.name + " on " + r.plan.cluster.name + ": " + describe(r.plan.layout)),
             false));
  }
  measured_table_->resizeColumnsToContents();
}

bool MainWindow::export_plan(const QString& format, const QString& path) {
  if (!cost_) {
    show_error("plan for export", "the current combination is invalid; fix it first");
    return false;
  }
  try {
    std::vector<planner::RuleReport> rules;
    if (search_title_ == inputs_title()) rules = rules_;
    Plan p =
        planner::make_plan(model_, cluster_, training_, planner::Candidate{layout_, *cost_}, rules);
    std::string text;
    if (format == "plan") {
      text = parplan::to_json(p).dump(2) + "\n";
    } else {
      planner::ExportFormat f;
      if (!planner::parse_export_format(format.toStdString(), f))
        throw Error("unknown export format '" + format.toStdString() +
                    "'; use plan, megatron, megatron-deepspeed, deepspeed, torchtitan, "
                    "torchtitan-toml, torchrun, mpiexec, pbs or srun");
      text = planner::export_plan(p, f);
    }
    write_file_atomic(path.toStdString(), text);
    statusBar()->showMessage("Exported " + format + " to " + path, 5000);
    return true;
  } catch (const std::exception& e) {
    show_error("export", e.what());
    return false;
  }
}

}  // namespace parplan::gui
