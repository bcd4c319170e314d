#pragma once
// The layout's controls: tp, pp, cp, dp, micro-batch, ZeRO, recomputation, sequence parallelism,
// schedule, virtual stages, offload, CP kind (and USP's Ulysses share), HSDP shard group and
// tiles, each offering only the
// values valid for the inputs.
#include <QGroupBox>

#include "layout_choices.hpp"
#include "parplan/model/layout.hpp"

class QCheckBox;
class QComboBox;

namespace parplan::gui {

class LayoutControls : public QGroupBox {
  Q_OBJECT
 public:
  explicit LayoutControls(QWidget* parent = nullptr);

  // Shows `l` with `choices` in the lists; a value of `l` outside the choices is shown too,
  // marked "(other)", so a loaded layout is displayed as it is (the status line says
  // whether it is valid). Emits nothing.
  void set_layout(const Layout& l, const LayoutChoices& choices);
  // `base` with the controlled fields replaced by the controls' values; the fields no control
  // shows (ep, etp, uneven stages, offload device) stay as in `base`.
  Layout layout(Layout base = {}) const;

 signals:
  // The user changed a control; `upstream` when tp, pp or cp changed (dp is derived again).
  void edited(bool upstream);

 private:
  QComboBox* int_combo(const char* name);
  QComboBox *tp_, *pp_, *cp_, *dp_, *mb_, *zero_, *recompute_, *schedule_, *vstages_, *offload_;
  QComboBox *cp_kind_, *ulysses_, *shard_group_, *tiles_;
  QCheckBox* sp_;
};

}  // namespace parplan::gui
