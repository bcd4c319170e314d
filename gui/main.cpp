// parplan-gui: the what-if desktop tool. Optional argument: a workspace JSON to open.
#include <QApplication>

#include "main_window.hpp"

int main(int argc, char** argv) {
  QApplication app(argc, argv);
  QApplication::setApplicationName("parplan-gui");
  parplan::gui::MainWindow w;
  const QStringList args = QApplication::arguments();
  if (args.size() > 1) w.load_workspace(args.at(1));
  w.show();
  w.start_search();
  return QApplication::exec();
}
