#pragma once
// Shared look of the charts (fonts, colours, margins) and number formatting at the GUI edge.
#include <QAbstractBarSeries>
#include <QBarSet>
#include <QChart>
#include <QList>
#include <QColor>
#include <QString>

namespace parplan::gui {

// Title and legend fonts, light theme, animations off (charts follow every drag).
void style_chart(QChart* chart, const QString& title);

// The colour of a named quantity ("params", "compute", ...), the same in every chart.
QColor series_color(const QString& name);

// One bar set per label, coloured as series_color, holding a single 0 value; appended to
// `bars` and returned in label order.
QList<QBarSet*> add_bar_sets(QAbstractBarSeries* bars, const QStringList& labels);

QString format_seconds(double s);         // "12.3 s", "45.6 ms", "789 us"
QString format_rate(double per_s);        // "1.23 M", "456 k"
QString format_percent(double fraction);  // "51.2 %"
QString format_gib(double bytes);         // "62.1 GiB"

}  // namespace parplan::gui
