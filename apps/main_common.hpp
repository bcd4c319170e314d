#pragma once
// The top of every parplan executable (parplan, parplan-run, parplan-sim): parse, run the
// subcommand, turn errors into the exit codes of docs/errors.md.
#include <iostream>

#include <CLI/CLI.hpp>

#include "parplan/model/error.hpp"

namespace parplan::cli {

// Thrown by a command that printed its result but must exit with a documented non-zero code
// (predict of a layout that does not fit: 4).
struct ExitCode {
  int code;
};

inline int run_app(CLI::App& app, int argc, char** argv) {
  try {
    app.parse(argc, argv);
  } catch (const CLI::Success& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    app.exit(e);
    return 2;
  } catch (const ExitCode& e) {
    return e.code;
  } catch (const parplan::Error& e) {
    std::cerr << "error: " << e.what() << "\n";
    return 2;
  } catch (const std::exception& e) {
    std::cerr << "error: " << e.what() << "\n";
    return 1;
  }
  return 0;
}

}  // namespace parplan::cli
