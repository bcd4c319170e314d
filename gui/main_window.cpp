#include "main_window.hpp"

#include <QComboBox>
#include <QElapsedTimer>
#include <QFileDialog>
#include <QFormLayout>
#include <QGroupBox>
#include <QHBoxLayout>
#include <QHeaderView>
#include <QLabel>
#include <QProgressBar>
#include <QPushButton>
#include <QScrollArea>
#include <QSignalBlocker>
#include <QSlider>
#include <QSpinBox>
#include <QSplitter>
#include <QStatusBar>
#include <QTabWidget>
#include <QTableWidget>
#include <QTextBrowser>
#include <QVBoxLayout>
#include <cmath>

#include "charts/chart_style.hpp"
#include "charts/measured_chart.hpp"
#include "charts/memory_chart.hpp"
#include "charts/pareto_chart.hpp"
#include "charts/scaling_chart.hpp"
#include "charts/time_chart.hpp"
#include "layout_choices.hpp"
#include "layout_controls.hpp"
#include "parplan/model/io.hpp"
#include "run_panel.hpp"
#include "search_runner.hpp"

namespace parplan::gui {

namespace {

QString qs(const std::string& s) {
  return QString::fromStdString(s);
}

// Selects the combo entry whose data is `spec`, or adds `label` holding `stored` (inline JSON).
void select_entry(QComboBox* box, const QString& spec, const QString& label,
                  const QString& stored) {
  QSignalBlocker block(box);
  int i = box->findData(spec);
  if (i < 0) i = box->findText(label);
  if (i < 0) {
    box->addItem(label, stored);
    i = box->count() - 1;
  } else if (box->itemText(i) == label) {
    box->setItemData(i, stored);
  }
  box->setCurrentIndex(i);
}

void fill_presets(QComboBox* box, InputKind kind) {
  for (const auto& n : preset_names(kind)) box->addItem(qs(n), qs(n));
}

int log2_floor(int64_t v) {
  int p = 0;
  while ((int64_t(1) << (p + 1)) <= v) ++p;
  return p;
}

}  // namespace

MainWindow::MainWindow(QWidget* parent) : QMainWindow(parent) {
  setWindowTitle("parplan: what-if sizing of parallel training");
  runner_ = new SearchRunner(this);
  build_ui();
  // The docs/design.md example: GPT-3 175B on 1,024 A100s, Megatron's 8x8 layout.
  model_ = load_model("gpt3-175b");
  cluster_ = load_cluster("dgx-a100-80g");
  training_ = load_training("gpt3-1536");
  gpus_ = std::min<int64_t>(1024, cluster_.total_gpus());
  layout_.tp = 8;
  layout_.pp = 8;
  layout_.zero = 1;
  layout_.recompute = Recompute::Selective;
  layout_.sequence_parallel = true;
  select_entry(model_box_, "gpt3-175b", "gpt3-175b", "gpt3-175b");
  select_entry(cluster_box_, "dgx-a100-80g", "dgx-a100-80g", "dgx-a100-80g");
  select_entry(train_box_, "gpt3-1536", "gpt3-1536", "gpt3-1536");
  inputs_changed(true);
  show_measured();
}

MainWindow::~MainWindow() = default;

void MainWindow::build_ui() {
  auto* split = new QSplitter(Qt::Horizontal, this);
  auto* scroll = new QScrollArea;
  scroll->setWidget(build_inputs_panel());
  scroll->setWidgetResizable(true);
  scroll->setMinimumWidth(310);
  split->addWidget(scroll);

  auto* right = new QWidget;
  auto* rv = new QVBoxLayout(right);
  rv->setContentsMargins(4, 4, 4, 4);
  status_ = new QLabel;
  status_->setObjectName("status");
  status_->setWordWrap(true);
  status_->setTextFormat(Qt::RichText);
  status_->setMinimumHeight(40);
  status_->setMargin(6);
  metrics_ = new QLabel;
  metrics_->setObjectName("metrics");
  metrics_->setTextFormat(Qt::RichText);
  metrics_->setWordWrap(true);
  rv->addWidget(status_);
  rv->addWidget(metrics_);
  auto* charts = new QSplitter(Qt::Horizontal);
  memory_chart_ = new MemoryChart;
  time_chart_ = new TimeChart;
  charts->addWidget(memory_chart_);
  charts->addWidget(time_chart_);
  charts->setStretchFactor(0, 2);
  charts->setStretchFactor(1, 3);
  auto* vsplit = new QSplitter(Qt::Vertical);
  vsplit->addWidget(charts);
  tabs_ = new QTabWidget;
  tabs_->setObjectName("tabs");
  tabs_->addTab(build_planner_tab(), "Planner: best layouts and rules");
  tabs_->addTab(build_scaling_tab(), "Scaling");
  tabs_->addTab(build_measured_tab(), "Predicted vs measured");
  run_panel_ = new RunPanel;
  tabs_->addTab(run_panel_, "Run: time, cost, energy");
  connect(run_panel_, &RunPanel::tokensChanged, this, [this](double tokens) {
    training_.tokens = tokens;
    update_prediction();
  });
  connect(run_panel_, &RunPanel::asyncCheckpointChanged, this, [this](bool on) {
    training_.async_checkpoint = on;
    update_prediction();
  });
  vsplit->addWidget(tabs_);
  vsplit->setStretchFactor(0, 1);
  vsplit->setStretchFactor(1, 1);
  rv->addWidget(vsplit, 1);
  split->addWidget(right);
  split->setStretchFactor(1, 1);
  setCentralWidget(split);

  timing_ = new QLabel;
  timing_->setObjectName("timing");
  progress_ = new QProgressBar;
  progress_->setObjectName("progress");
  progress_->setRange(0, 1000);
  progress_->setMaximumWidth(220);
  progress_->setVisible(false);
  cancel_button_ = new QPushButton("Cancel");
  cancel_button_->setObjectName("cancel");
  cancel_button_->setEnabled(false);
  statusBar()->addPermanentWidget(timing_);
  statusBar()->addPermanentWidget(progress_);
  statusBar()->addPermanentWidget(cancel_button_);
  connect(cancel_button_, &QPushButton::clicked, this, &MainWindow::cancel_search);
  connect(runner_, &SearchRunner::started, this, [this] {
    progress_->setVisible(true);
    progress_->setValue(0);
    cancel_button_->setEnabled(true);
  });
  connect(runner_, &SearchRunner::progressChanged, this,
          [this](double f) { progress_->setValue(int(std::lround(f * 1000))); });
  connect(runner_, &SearchRunner::finished, this, [this](bool cancelled, const QString& err) {
    progress_->setVisible(false);
    cancel_button_->setEnabled(false);
    if (!err.isEmpty())
      statusBar()->showMessage("Search failed: " + err);
    else if (cancelled)
      statusBar()->showMessage("Search cancelled; partial results shown", 5000);
  });
  build_toolbar();
  resize(1500, 980);
}

QWidget* MainWindow::build_inputs_panel() {
  auto* panel = new QWidget;
  auto* v = new QVBoxLayout(panel);

  auto open_button = [&](const QString& title, auto setter) {
    auto* b = new QPushButton("Open…");
    b->setToolTip(title);
    connect(b, &QPushButton::clicked, this, [this, title, setter] {
      QString path = QFileDialog::getOpenFileName(this, title, {}, "JSON (*.json);;All files (*)");
      if (!path.isEmpty()) (this->*setter)(path);
    });
    return b;
  };
  auto preset_row = [&](QComboBox*& box, const char* name, InputKind kind, const QString& title,
                        bool (MainWindow::*setter)(const QString&)) {
    box = new QComboBox;
    box->setObjectName(name);
    fill_presets(box, kind);
    connect(box, &QComboBox::activated, this,
            [this, box, setter](int i) { (this->*setter)(box->itemData(i).toString()); });
    auto* row = new QHBoxLayout;
    row->addWidget(box, 1);
    row->addWidget(open_button(title, setter));
    return row;
  };

  auto* inputs = new QGroupBox("Model and cluster");
  auto* form = new QFormLayout(inputs);
  form->addRow("model", preset_row(model_box_, "model", InputKind::Model,
                                   "Open a model JSON or a Hugging Face config.json",
                                   &MainWindow::set_model));
  form->addRow("cluster", preset_row(cluster_box_, "cluster", InputKind::Cluster,
                                     "Open a cluster JSON", &MainWindow::set_cluster));
  cluster_info_ = new QLabel;
  cluster_info_->setWordWrap(true);
  form->addRow(cluster_info_);
  gpus_spin_ = new QSpinBox;
  gpus_spin_->setObjectName("gpus");
  gpus_spin_->setRange(1, 1);
  gpus_spin_->setKeyboardTracking(false);
  gpus_slider_ = new QSlider(Qt::Horizontal);
  gpus_slider_->setObjectName("gpus_slider");
  gpus_slider_->setToolTip("GPUs in powers of two");
  auto* grow = new QHBoxLayout;
  grow->addWidget(gpus_spin_);
  grow->addWidget(gpus_slider_, 1);
  form->addRow("GPUs", grow);
  connect(gpus_spin_, &QSpinBox::valueChanged, this, [this](int g) { set_gpus(g); });
  connect(gpus_slider_, &QSlider::valueChanged, this,
          [this](int p) { set_gpus(std::min<int64_t>(int64_t(1) << p, cluster_.total_gpus())); });
  v->addWidget(inputs);

  auto* train = new QGroupBox("Training");
  auto* tform = new QFormLayout(train);
  tform->addRow("setup", preset_row(train_box_, "train", InputKind::Training,
                                    "Open a training JSON", &MainWindow::set_training));
  batch_spin_ = new QSpinBox;
  batch_spin_->setObjectName("global_batch");
  batch_spin_->setRange(1, 1 << 24);
  batch_spin_->setKeyboardTracking(false);
  batch_spin_->setSuffix(" sequences");
  seq_spin_ = new QSpinBox;
  seq_spin_->setObjectName("seq_len");
  seq_spin_->setRange(1, 1 << 22);
  seq_spin_->setKeyboardTracking(false);
  seq_spin_->setSuffix(" tokens");
  dtype_box_ = new QComboBox;
  dtype_box_->setObjectName("dtype");
  for (auto d : {DType::BF16, DType::FP16, DType::TF32, DType::FP32, DType::FP8})
    dtype_box_->addItem(to_string(d), int(d));
  fp8_recipe_box_ = new QComboBox;
  fp8_recipe_box_->setObjectName("fp8_recipe");
  fp8_recipe_box_->setToolTip("FP8 scaling: per-tensor delayed or current, blockwise "
                              "(DeepSeek-V3), MXFP8 and NVFP4 (Blackwell)");
  for (auto r : {Fp8Recipe::Delayed, Fp8Recipe::Current, Fp8Recipe::Blockwise, Fp8Recipe::Mxfp8,
                 Fp8Recipe::Nvfp4})
    fp8_recipe_box_->addItem(to_string(r), int(r));
  tform->addRow("global batch", batch_spin_);
  tform->addRow("sequence length", seq_spin_);
  tform->addRow("dtype", dtype_box_);
  tform->addRow("FP8 recipe", fp8_recipe_box_);
  connect(fp8_recipe_box_, &QComboBox::currentIndexChanged, this, [this](int) {
    training_.fp8_recipe = Fp8Recipe(fp8_recipe_box_->currentData().toInt());
    inputs_changed(false);
  });
  connect(batch_spin_, &QSpinBox::valueChanged, this, [this](int b) {
    training_.global_batch = b;
    inputs_changed(true);
  });
  connect(seq_spin_, &QSpinBox::valueChanged, this, [this](int s) {
    training_.seq_len = s;
    inputs_changed(true);
  });
  connect(dtype_box_, &QComboBox::currentIndexChanged, this, [this](int) {
    training_.dtype = DType(dtype_box_->currentData().toInt());
    inputs_changed(true);
  });
  v->addWidget(train);

  layout_controls_ = new LayoutControls;
  connect(layout_controls_, &LayoutControls::edited, this, &MainWindow::on_layout_edited);
  v->addWidget(layout_controls_);
  v->addStretch(1);
  return panel;
}

QWidget* MainWindow::build_planner_tab() {
  auto* w = new QWidget;
  auto* v = new QVBoxLayout(w);
  auto* row = new QHBoxLayout;
  auto* run = new QPushButton("Search best layouts");
  run->setObjectName("search");
  connect(run, &QPushButton::clicked, this, &MainWindow::start_search);
  search_info_ = new QLabel("Run a search to rank every valid layout; click a row to apply it.");
  search_info_->setWordWrap(true);
  row->addWidget(run);
  row->addWidget(search_info_, 1);
  v->addLayout(row);
  auto* split = new QSplitter(Qt::Horizontal);
  planner_table_ = new QTableWidget(0, 17);
  planner_table_->setObjectName("plannerTable");
  planner_table_->setHorizontalHeaderLabels({"#", "dp", "tp", "pp", "cp", "mb", "ZeRO", "recompute",
                                             "SP", "schedule", "v", "offload", "also", "step",
                                             "tokens/s", "MFU", "memory"});
  planner_table_->horizontalHeaderItem(15)->setToolTip(
      "model FLOPs against the dense peak of the dtype the linear GEMMs run in (FP8: the FP8 peak)");
  planner_table_->horizontalHeaderItem(12)->setToolTip(
      "CP kind (ulysses, usp with its Ulysses share), HSDP shard group, tiles, expert parallelism");
  planner_table_->setEditTriggers(QAbstractItemView::NoEditTriggers);
  planner_table_->setSelectionBehavior(QAbstractItemView::SelectRows);
  planner_table_->setSelectionMode(QAbstractItemView::SingleSelection);
  planner_table_->verticalHeader()->setVisible(false);
  planner_table_->verticalHeader()->setDefaultSectionSize(22);
  connect(planner_table_, &QTableWidget::currentCellChanged, this, [this](int r, int, int, int) {
    if (r >= 0 && size_t(r) < search_.top.size()) apply_layout(search_.top[size_t(r)].layout);
  });
  rules_view_ = new QTextBrowser;
  rules_view_->setObjectName("rules");
  rules_view_->setPlaceholderText("Decision rules that fire, and whether the search agrees.");
  split->addWidget(planner_table_);
  split->addWidget(rules_view_);
  split->setStretchFactor(0, 2);
  split->setStretchFactor(1, 1);
  v->addWidget(split, 1);
  return w;
}

QWidget* MainWindow::build_scaling_tab() {
  auto* w = new QWidget;
  auto* v = new QVBoxLayout(w);
  auto* run = new QPushButton("Run scaling sweep (best layout at 1, 2, 4, … GPUs)");
  run->setObjectName("sweep");
  connect(run, &QPushButton::clicked, this, &MainWindow::start_scaling_sweep);
  auto* row = new QHBoxLayout;
  row->addWidget(run);
  row->addStretch(1);
  v->addLayout(row);
  scaling_chart_ = new ScalingChart;
  pareto_chart_ = new ParetoChart;
  auto* charts = new QSplitter(Qt::Horizontal);
  charts->addWidget(scaling_chart_);
  charts->addWidget(pareto_chart_);
  v->addWidget(charts, 1);
  return w;
}

QWidget* MainWindow::build_measured_tab() {
  auto* w = new QWidget;
  auto* v = new QVBoxLayout(w);
  auto* row = new QHBoxLayout;
  auto* load = new QPushButton("Load measured.json or imported run…");
  connect(load, &QPushButton::clicked, this, [this] {
    for (const QString& p : QFileDialog::getOpenFileNames(
             this, "Load measured.json (parplan run) or a run from parplan import", {}, "JSON (*.json)"))
      add_measured(p);
  });
  auto* clear = new QPushButton("Clear");
  connect(clear, &QPushButton::clicked, this, &MainWindow::clear_measured);
  row->addWidget(load);
  row->addWidget(clear);
  row->addStretch(1);
  v->addLayout(row);
  auto* split = new QSplitter(Qt::Horizontal);
  measured_chart_ = new MeasuredChart;
  measured_table_ = new QTableWidget(0, 8);
  measured_table_->setObjectName("measuredTable");
  measured_table_->setHorizontalHeaderLabels(
      {"file", "step error", "measured step", "predicted step", "measured tokens/s",
       "predicted tokens/s", "MFU measured / predicted", "plan"});
  measured_table_->setEditTriggers(QAbstractItemView::NoEditTriggers);
  measured_table_->verticalHeader()->setVisible(false);
  split->addWidget(measured_chart_);
  split->addWidget(measured_table_);
  v->addWidget(split, 1);
  return w;
}

bool MainWindow::set_model(const QString& spec) {
  try {
    Model m = load_model(spec.toStdString());
    model_ = m;
    select_entry(model_box_, spec, qs(m.name), qs(to_json(m).dump()));
    inputs_changed(true);
    return true;
  } catch (const std::exception& e) {
    show_error("model", e.what());
    return false;
  }
}

bool MainWindow::set_cluster(const QString& spec) {
  try {
    Cluster c = load_cluster(spec.toStdString());
    cluster_ = c;
    gpus_ = c.total_gpus();
    select_entry(cluster_box_, spec, qs(c.name), qs(to_json(c).dump()));
    inputs_changed(true);
    return true;
  } catch (const std::exception& e) {
    show_error("cluster", e.what());
    return false;
  }
}

bool MainWindow::set_training(const QString& spec) {
  try {
    Training t = load_training(spec.toStdString());
    training_ = t;
    QString label = spec.startsWith('{') || spec.contains('/') ? "custom training" : spec;
    select_entry(train_box_, spec, label, qs(to_json(t).dump()));
    inputs_changed(true);
    return true;
  } catch (const std::exception& e) {
    show_error("training", e.what());
    return false;
  }
}

bool MainWindow::set_gpus(int64_t g) {
  if (g < 1 || g > cluster_.total_gpus()) {
    show_error("GPU count",
               QString("must be between 1 and the cluster's %1 GPUs").arg(cluster_.total_gpus()));
    return false;
  }
  if (g == gpus_) return true;
  gpus_ = g;
  inputs_changed(true);
  return true;
}

void MainWindow::apply_layout(const Layout& l) {
  layout_ = l;
  sync_widgets();
  update_prediction();
}

void MainWindow::inputs_changed(bool dp_fill) {
  layout_ = constrain_layout(layout_, model_, training_, gpus_, dp_fill);
  sync_widgets();
  update_prediction();
  // Planner rows belong to the inputs they were searched for.
  if (!search_title_.isEmpty() && search_title_ != inputs_title() &&
      !search_info_->text().startsWith("<b>Stale"))
    search_info_->setText("<b>Stale: the inputs changed since this search; search again.</b> " +
                          search_info_->text());
}

void MainWindow::on_layout_edited(bool upstream) {
  layout_ = constrain_layout(layout_controls_->layout(layout_), model_, training_, gpus_, upstream);
  sync_widgets();
  update_prediction();
}

void MainWindow::sync_widgets() {
  {
    QSignalBlocker b1(gpus_spin_), b2(gpus_slider_), b3(batch_spin_), b4(seq_spin_), b5(dtype_box_);
    int64_t total = std::max<int64_t>(1, cluster_.total_gpus());
    gpus_spin_->setRange(1, int(total));
    gpus_spin_->setValue(int(gpus_));
    gpus_slider_->setRange(0, log2_floor(total));
    gpus_slider_->setValue(log2_floor(std::max<int64_t>(1, gpus_)));
    batch_spin_->setValue(int(training_.global_batch));
    seq_spin_->setValue(int(training_.seq_len));
    dtype_box_->setCurrentIndex(dtype_box_->findData(int(training_.dtype)));
    QSignalBlocker b6(fp8_recipe_box_);
    fp8_recipe_box_->setCurrentIndex(fp8_recipe_box_->findData(int(training_.fp8_recipe)));
    fp8_recipe_box_->setEnabled(training_.fp8());
  }
  run_panel_->set_inputs(training_.tokens, training_.async_checkpoint);
  cluster_info_->setText(QString("%1 nodes × %2 %3, %4 GiB, %5 TFLOP/s %6")
                             .arg(cluster_.nodes)
                             .arg(cluster_.gpus_per_node)
                             .arg(qs(cluster_.gpu.name))
                             .arg(cluster_.gpu.memory_bytes / double(1ull << 30), 0, 'f', 0)
                             .arg(cluster_.gpu.peak_flops(training_.dtype) / 1e12, 0, 'g', 4)
                             .arg(to_string(training_.dtype)));
  layout_controls_->set_layout(layout_, layout_choices(model_, training_, gpus_, layout_));
}

}  // namespace parplan::gui
