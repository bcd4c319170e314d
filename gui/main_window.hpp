#pragma once
// The what-if window: inputs and layout on the left; memory and step-time charts, the status
// line and the planner / scaling / measured tabs on the right. Every change re-runs
// cost::predict on the GUI thread (well under 50 ms); searches run on a SearchRunner.
#include <QMainWindow>
#include <optional>
#include <vector>

#include "measured.hpp"
#include "parplan/cost/step.hpp"
#include "parplan/model/cluster.hpp"
#include "parplan/model/layout.hpp"
#include "parplan/model/model.hpp"
#include "parplan/model/training.hpp"
#include "parplan/planner/rules.hpp"
#include "parplan/planner/search.hpp"
#include "workspace.hpp"

class QComboBox;
class QLabel;
class QProgressBar;
class QPushButton;
class QSlider;
class QSpinBox;
class QTabWidget;
class QTableWidget;
class QTextBrowser;

namespace parplan::gui {

class LayoutControls;
class MemoryChart;
class TimeChart;
class ScalingChart;
class MeasuredChart;
class ParetoChart;
class RunPanel;
class SearchRunner;

class MainWindow : public QMainWindow {
  Q_OBJECT
 public:
  explicit MainWindow(QWidget* parent = nullptr);
  ~MainWindow() override;

  // Inputs as the window holds them now.
  const Model& model() const { return model_; }
  const Cluster& cluster() const { return cluster_; }
  const Training& training() const { return training_; }
  const Layout& layout() const { return layout_; }
  int64_t gpus() const { return gpus_; }
  // The prediction on display; empty when the inputs are invalid.
  const std::optional<cost::StepCost>& prediction() const { return cost_; }
  const std::vector<MeasuredRun>& measured() const { return measured_; }
  QString status_text() const;
  double last_update_ms() const { return last_update_ms_; }

  // Each returns false and shows the reason in the status line on failure.
  // spec: a preset name, a JSON file (a Hugging Face config.json for models), or inline JSON.
  bool set_model(const QString& spec);
  bool set_cluster(const QString& spec);
  bool set_training(const QString& spec);
  bool set_gpus(int64_t gpus);
  // As clicking a planner row: shows `l` as it is (no snapping); problems go to the status line.
  void apply_layout(const Layout& l);
  bool save_workspace(const QString& path);
  bool load_workspace(const QString& path);
  bool add_measured(const QString& path);
  void clear_measured();
  // format: "plan" (plan.json), "megatron", "deepspeed", "torchrun", "srun", "mpiexec".
  bool export_plan(const QString& format, const QString& path);

  // Background work; progress bar and Cancel follow it.
  void start_search();
  void start_scaling_sweep();
  void cancel_search();
  SearchRunner* runner() const { return runner_; }

  MemoryChart* memory_chart() const { return memory_chart_; }
  TimeChart* time_chart() const { return time_chart_; }
  ScalingChart* scaling_chart() const { return scaling_chart_; }
  MeasuredChart* measured_chart() const { return measured_chart_; }
  ParetoChart* pareto_chart() const { return pareto_chart_; }
  RunPanel* run_panel() const { return run_panel_; }
  QTableWidget* planner_table() const { return planner_table_; }
  QTextBrowser* rules_view() const { return rules_view_; }
  QTabWidget* tabs() const { return tabs_; }

 private:
  void build_ui();
  QWidget* build_inputs_panel();
  QWidget* build_planner_tab();
  QWidget* build_scaling_tab();
  QWidget* build_measured_tab();
  void build_toolbar();

  // After an input change: snap the layout to valid values, refresh the widgets, predict.
  void inputs_changed(bool dp_fill);
  void on_layout_edited(bool upstream);
  void sync_widgets();
  void update_prediction();
  void update_run_panel();
  void show_status(const QString& html, const QString& color);
  void show_error(const QString& what, const QString& message);
  void show_search_result();
  void show_measured();
  QString inputs_title() const;
  Workspace workspace() const;
  void apply_workspace(const Workspace& w);

  Model model_;
  Cluster cluster_;
  Training training_;
  int64_t gpus_ = 1;
  Layout layout_;
  std::optional<cost::StepCost> cost_;
  std::vector<MeasuredRun> measured_;
  planner::SearchResult search_;
  std::vector<planner::RuleReport> rules_;
  QString search_title_;
  double last_update_ms_ = 0;

  QComboBox *model_box_ = nullptr, *cluster_box_ = nullptr, *train_box_ = nullptr;
  QComboBox* dtype_box_ = nullptr;
  QComboBox* fp8_recipe_box_ = nullptr;
  QSpinBox *gpus_spin_ = nullptr, *batch_spin_ = nullptr, *seq_spin_ = nullptr;
  QSlider* gpus_slider_ = nullptr;
  QLabel* cluster_info_ = nullptr;
  LayoutControls* layout_controls_ = nullptr;
  QLabel* status_ = nullptr;
  QLabel* metrics_ = nullptr;
  QLabel* timing_ = nullptr;
  MemoryChart* memory_chart_ = nullptr;
  TimeChart* time_chart_ = nullptr;
  ScalingChart* scaling_chart_ = nullptr;
  MeasuredChart* measured_chart_ = nullptr;
  ParetoChart* pareto_chart_ = nullptr;
  RunPanel* run_panel_ = nullptr;
  QTabWidget* tabs_ = nullptr;
  QTableWidget* planner_table_ = nullptr;
  QTextBrowser* rules_view_ = nullptr;
  QLabel* search_info_ = nullptr;
  QTableWidget* measured_table_ = nullptr;
  QProgressBar* progress_ = nullptr;
  QPushButton* cancel_button_ = nullptr;
  SearchRunner* runner_ = nullptr;
};

}  // namespace parplan::gui
