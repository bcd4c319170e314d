#pragma once
// The top of every parplan executable (parplan, parplan-run, parplan-sim): parse, run the
// subcommand, turn errors into the exit codes of docs/errors.md.
#include <iostream>

#include <CLI/CLI.hpp>

#include "exit_codes.hpp"
#include "parplan/model/error.hpp"

namespace parplan::cli {

// Thrown by a command that printed its result but must exit with a documented non-zero code
// (predict of a layout that does not fit: 4).
struct ExitCode {
  int code;
};

inline int run_app(CLI::App& app, int argc, char** argv) {
  // A first word that is neither an option nor a subcommand: name it (CLI11 would only say that
  // a subcommand is required).
  std::string names;
  bool known = false;
  for (const CLI::App* sub : app.get_subcommands([](const CLI::App*) { return true; })) {
    names += (names.empty() ? "" : ", ") + sub->get_name();
    known = known || (argc > 1 && sub->check_name(argv[1]));
  }
  if (argc > 1 && argv[1][0] != '-' && !known) {
    std::cerr << "error: unknown command \"" << std::string(argv[1]).substr(0, 80)
              << "\"; use one of: " << names << " (parplan --help)\n";
    return kExitBadInput;
  }
  try {
    app.parse(argc, argv);
  } catch (const CLI::Success& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    // CLI11's own errors (unknown option, missing value, a validator's message) as the one
    // `error:` line of every other bad input (docs/errors.md), control characters escaped.
    std::string msg = e.what();
    for (auto& ch : msg)
      if (ch == '\n') ch = ' ';
    while (!msg.empty() && msg.back() == ' ') msg.pop_back();
    std::string sub;
    for (const CLI::App* s : app.get_subcommands()) sub = " " + s->get_name();
    std::cerr << "error: " << parplan::brief(msg, 400) << " (see parplan" << sub << " --help)\n";
    return kExitBadInput;
  } catch (const ExitCode& e) {
    return e.code;
  } catch (const parplan::Interrupted& e) {
    std::cerr << "error: " << e.what() << "\n";
    return 128 + e.signal;
  } catch (const parplan::EnvironmentError& e) {
    std::cerr << "error: " << e.what() << "\n";
    return kExitEnvironment;
  } catch (const parplan::Error& e) {
    std::cerr << "error: " << e.what() << "\n";
    return kExitBadInput;
  } catch (const std::bad_alloc&) {
    std::cerr << "error: out of memory; lower the sizes asked for (--top, --threads, the model)\n";
    return kExitEnvironment;
  } catch (const std::exception& e) {
    std::cerr << "error (internal, please report): " << e.what() << "\n";
    return kExitInternal;
  }
  return kExitOk;
}

}  // namespace parplan::cli
