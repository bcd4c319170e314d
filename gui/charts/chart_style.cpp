#include "charts/chart_style.hpp"

#include <QFont>
#include <QHash>
#include <QLegend>

namespace parplan::gui {

void style_chart(QChart* chart, const QString& title) {
  chart->setTheme(QChart::ChartThemeLight);
  chart->setAnimationOptions(QChart::NoAnimation);
  QFont tf = chart->titleFont();
  tf.setPointSizeF(10.5);
  tf.setBold(true);
  chart->setTitleFont(tf);
  chart->setTitle(title);
  chart->setMargins(QMargins(4, 4, 4, 4));
  QFont lf = chart->legend()->font();
  lf.setPointSizeF(8.5);
  chart->legend()->setFont(lf);
  chart->legend()->setAlignment(Qt::AlignBottom);
}

QColor series_color(const QString& name) {
  static const QHash<QString, QColor> colors = {{"params", QColor(0x1f, 0x77, 0xb4)},
                                                {"grads", QColor(0xff, 0x7f, 0x0e)},
                                                {"optimizer", QColor(0x2c, 0xa0, 0x2c)},
                                                {"activations", QColor(0xd6, 0x27, 0x28)},
                                                {"buffers", QColor(0x94, 0x67, 0xbd)},
                                                {"reserve", QColor(0xa0, 0xa0, 0xa0)},
                                                {"compute", QColor(0x1f, 0x77, 0xb4)},
                                                {"TP comm", QColor(0xff, 0x7f, 0x0e)},
                                                {"CP comm", QColor(0xbc, 0xbd, 0x22)},
                                                {"PP comm", QColor(0x17, 0xbe, 0xcf)},
                                                {"PP bubble", QColor(0xd6, 0x27, 0x28)},
                                                {"DP comm", QColor(0x94, 0x67, 0xbd)},
                                                {"optimizer step", QColor(0x8c, 0x56, 0x4b)},
                                                {"tokens/s", QColor(0x1f, 0x77, 0xb4)},
                                                {"MFU", QColor(0xd6, 0x27, 0x28)},
                                                {"capacity", QColor(0x20, 0x20, 0x20)}};
  return colors.value(name, QColor(0x60, 0x60, 0x60));
}

QString format_seconds(double s) {
  if (s == 0) return "0 s";
  if (s >= 1.0) return QString::number(s, 'f', s >= 100 ? 0 : 2) + " s";
  if (s >= 1e-3) return QString::number(s * 1e3, 'f', 1) + " ms";
  return QString::number(s * 1e6, 'f', 0) + " us";
}

QString format_rate(double v) {
  if (v >= 1e9) return QString::number(v / 1e9, 'f', 2) + " G";
  if (v >= 1e6) return QString::number(v / 1e6, 'f', 2) + " M";
  if (v >= 1e3) return QString::number(v / 1e3, 'f', 1) + " k";
  return QString::number(v, 'f', 0);
}

QString format_percent(double f) {
  return QString::number(f * 100.0, 'f', 1) + " %";
}

QString format_gib(double bytes) {
  return QString::number(bytes / double(1ull << 30), 'f', 1) + " GiB";
}

QList<QBarSet*> add_bar_sets(QAbstractBarSeries* bars, const QStringList& labels) {
  QList<QBarSet*> sets;
  for (const QString& l : labels) {
    auto* s = new QBarSet(l);
    s->setColor(series_color(l));
    s->setBorderColor(series_color(l).darker(130));
    s->append(0.0);
    bars->append(s);
    sets.push_back(s);
  }
  return sets;
}

}  // namespace parplan::gui
