#pragma once
// A progress bar on stderr for long searches and sweeps, shown once the work has run for a
// second: redrawn in place on a terminal, one line per second otherwise (logs).
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <functional>
#include <memory>
#include <string>

namespace parplan::cli {

// `shown` is set once a bar was drawn on a terminal (the caller ends its line then).
inline std::function<void(double)> progress_bar(bool& shown, const char* what = "searching") {
  auto start = std::chrono::steady_clock::now();
  const bool tty = isatty(fileno(stderr));
  auto last_line = std::make_shared<double>(0.0);
  return [start, tty, last_line, &shown, what](double done) {
    double elapsed =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    if (elapsed < 1.0 && !shown) return;
    if (!tty) {
      if (elapsed - *last_line < 1.0 && done < 1.0) return;
      *last_line = elapsed;
      std::fprintf(stderr, "%s: %3.0f%% after %.1f s\n", what, 100.0 * done, elapsed);
      return;
    }
    shown = true;
    const int width = 40;
    int fill = std::clamp(int(done * width + 0.5), 0, width);
    std::fprintf(stderr, "\r%s [%s%s] %3.0f%% %5.1f s", what,
                 std::string(size_t(fill), '#').c_str(),
                 std::string(size_t(width - fill), ' ').c_str(), 100.0 * done, elapsed);
    std::fflush(stderr);
  };
}

}  // namespace parplan::cli
