#include "layout_controls.hpp"

#include <QCheckBox>
#include <QComboBox>
#include <QFormLayout>
#include <QSignalBlocker>
#include <QStandardItemModel>

namespace parplan::gui {

namespace {

void fill_ints(QComboBox* box, const std::vector<int32_t>& values, int32_t current) {
  QSignalBlocker block(box);
  box->clear();
  bool found = false;
  for (int32_t v : values) {
    box->addItem(QString::number(v), v);
    found = found || v == current;
  }
  if (!found) box->addItem(QString("%1 (other)").arg(current), current);
  box->setCurrentIndex(box->findData(current));
}

int32_t current_int(const QComboBox* box) {
  return box->currentData().toInt();
}

template <class E>
void select_enum(QComboBox* box, E v) {
  QSignalBlocker block(box);
  box->setCurrentIndex(box->findData(int(v)));
}

}  // namespace

QComboBox* LayoutControls::int_combo(const char* name) {
  auto* box = new QComboBox(this);
  box->setObjectName(name);
  box->setSizeAdjustPolicy(QComboBox::AdjustToContents);
  return box;
}

LayoutControls::LayoutControls(QWidget* parent) : QGroupBox("Layout", parent) {
  tp_ = int_combo("tp");
  pp_ = int_combo("pp");
  cp_ = int_combo("cp");
  dp_ = int_combo("dp");
  mb_ = int_combo("micro_batch");
  vstages_ = int_combo("virtual_stages");
  zero_ = int_combo("zero");
  for (int z = 0; z <= 3; ++z) zero_->addItem(QString::number(z), z);
  recompute_ = int_combo("recompute");
  for (auto r : {Recompute::None, Recompute::Selective, Recompute::Full})
    recompute_->addItem(to_string(r), int(r));
  schedule_ = int_combo("schedule");
  for (auto s : {Schedule::GPipe, Schedule::OneFOneB, Schedule::Interleaved})
    schedule_->addItem(to_string(s), int(s));
  offload_ = int_combo("offload");
  for (auto o : {Offload::None, Offload::Optimizer, Offload::OptimizerAndParams})
    offload_->addItem(to_string(o), int(o));
  cp_kind_ = int_combo("cp_kind");
  ulysses_ = int_combo("ulysses");
  shard_group_ = int_combo("shard_group");
  tiles_ = int_combo("tiles");
  sp_ = new QCheckBox("sequence parallel", this);
  sp_->setObjectName("sequence_parallel");

  tp_->setToolTip("Tensor parallel degree: divisors of the heads (and kv heads)");
  pp_->setToolTip("Pipeline stages: divisors of the layers");
  cp_->setToolTip("Context parallel degree: 2*cp divides the sequence");
  dp_->setToolTip(
      "Data parallel degree: divides the global batch, dp*tp*pp*cp <= GPUs; set to "
      "the GPUs left whenever tp, pp or cp change");
  mb_->setToolTip("Micro-batch: divides global_batch / dp");
  vstages_->setToolTip("Model chunks per stage (interleaved 1F1B only, then >= 2)");
  offload_->setToolTip("CPU offload (ZeRO-Offload); parameters need ZeRO-3");
  cp_kind_->setToolTip(
      "Context parallelism: ring attention, Ulysses all-to-all over heads (cp divides the heads "
      "per TP rank), or USP (Ulysses inside a node, ring across)");
  ulysses_->setToolTip("USP: Ulysses over this many ranks, ring over cp / it (0: the largest that "
                        "stays inside a node and splits the heads)");
  shard_group_->setToolTip("HSDP: shard ZeRO-3 states inside groups of this many DP ranks, "
                           "replicate across them (0: the whole DP group)");
  tiles_->setToolTip("Memory-centric tiling: each linear layer in this many pieces, run one after "
                     "another; ZeRO-3 gathers one piece at a time");

  auto* form = new QFormLayout(this);
  form->addRow("TP (tensor)", tp_);
  form->addRow("PP (pipeline)", pp_);
  form->addRow("CP (context)", cp_);
  form->addRow("DP (data)", dp_);
  form->addRow("micro-batch", mb_);
  form->addRow("ZeRO stage", zero_);
  form->addRow("recomputation", recompute_);
  form->addRow("", sp_);
  form->addRow("schedule", schedule_);
  form->addRow("virtual stages", vstages_);
  form->addRow("offload", offload_);
  form->addRow("CP kind", cp_kind_);
  form->addRow("Ulysses share", ulysses_);
  form->addRow("shard group", shard_group_);
  form->addRow("tiles", tiles_);

  for (QComboBox* b : {tp_, pp_, cp_})
    connect(b, &QComboBox::currentIndexChanged, this, [this] { emit edited(true); });
  for (QComboBox* b :
       {dp_, mb_, zero_, recompute_, schedule_, vstages_, offload_, cp_kind_, ulysses_, shard_group_,
        tiles_})
    connect(b, &QComboBox::currentIndexChanged, this, [this] { emit edited(false); });
  connect(sp_, &QCheckBox::toggled, this, [this] { emit edited(false); });
}

void LayoutControls::set_layout(const Layout& l, const LayoutChoices& c) {
  fill_ints(tp_, c.tp, l.tp);
  fill_ints(pp_, c.pp, l.pp);
  fill_ints(cp_, c.cp, l.cp);
  fill_ints(dp_, c.dp, l.dp);
  fill_ints(mb_, c.micro_batch, l.micro_batch);
  fill_ints(vstages_, c.virtual_stages, l.virtual_stages);
  vstages_->setEnabled(c.virtual_stages.size() > 1 || l.virtual_stages != 1);
  {
    QSignalBlocker block(zero_);
    if (zero_->findData(l.zero) < 0) zero_->addItem(QString("%1 (other)").arg(l.zero), l.zero);
    zero_->setCurrentIndex(zero_->findData(l.zero));
  }
  {
    QSignalBlocker block(cp_kind_);
    cp_kind_->clear();
    for (CpKind k : c.cp_kind) cp_kind_->addItem(to_string(k), int(k));
    if (cp_kind_->findData(int(l.cp_kind)) < 0)
      cp_kind_->addItem(QString("%1 (other)").arg(to_string(l.cp_kind)), int(l.cp_kind));
    cp_kind_->setCurrentIndex(cp_kind_->findData(int(l.cp_kind)));
    cp_kind_->setEnabled(l.cp > 1);
  }
  fill_ints(ulysses_, c.ulysses, l.ulysses);
  if (int i = ulysses_->findData(0); i >= 0) {
    QSignalBlocker block(ulysses_);
    ulysses_->setItemText(i, "0 (derived)");
  }
  ulysses_->setEnabled(c.ulysses.size() > 1 || l.ulysses != 0);
  fill_ints(shard_group_, c.shard_group, l.shard_group);
  if (int i = shard_group_->findData(0); i >= 0) {
    QSignalBlocker block(shard_group_);
    shard_group_->setItemText(i, "0 (all of dp)");
  }
  shard_group_->setEnabled(c.shard_group.size() > 1 || l.shard_group != 0);
  fill_ints(tiles_, c.tiles, l.tiles);
  select_enum(recompute_, l.recompute);
  select_enum(schedule_, l.schedule);
  select_enum(offload_, l.offload);
  // Offloading parameters needs ZeRO-3.
  if (auto* items = qobject_cast<QStandardItemModel*>(offload_->model()))
    if (auto* it = items->item(offload_->findData(int(Offload::OptimizerAndParams))))
      it->setEnabled(l.zero == 3 || l.offload == Offload::OptimizerAndParams);
  QSignalBlocker block(sp_);
  sp_->setChecked(l.sequence_parallel);
  sp_->setEnabled(l.tp > 1 || l.sequence_parallel);
}

Layout LayoutControls::layout(Layout l) const {
  l.tp = current_int(tp_);
  l.pp = current_int(pp_);
  l.cp = current_int(cp_);
  l.dp = current_int(dp_);
  l.micro_batch = current_int(mb_);
  l.virtual_stages = current_int(vstages_);
  l.zero = current_int(zero_);
  l.recompute = Recompute(current_int(recompute_));
  l.schedule = Schedule(current_int(schedule_));
  l.offload = Offload(current_int(offload_));
  l.sequence_parallel = sp_->isChecked();
  l.cp_kind = CpKind(current_int(cp_kind_));
  l.ulysses = current_int(ulysses_);
  l.shard_group = current_int(shard_group_);
  l.tiles = current_int(tiles_);
  return l;
}

}  // namespace parplan::gui
