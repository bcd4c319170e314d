#pragma once
// The one exception type of parplan, and the diagnostics collected while reading inputs.
#include <stdexcept>
#include <string>
#include <vector>

namespace parplan {

// Thrown for bad user input or impossible requests; the message names the field and the fix.
// The CLI catches it at the top, prints the message and exits with code 2.
class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// The environment failed, not the input (disk full, a peer died, a port or lock is held): the
// message names the cause; the CLI exits with code 3 (docs/errors.md).
class EnvironmentError : public Error {
 public:
  using Error::Error;
};
// A run stopped by SIGINT/SIGTERM (forwarded to its ranks); the CLI exits with 128 + signal.
class Interrupted : public EnvironmentError {
 public:
  Interrupted(const std::string& what, int signal) : EnvironmentError(what), signal(signal) {}
  int signal;
};

// `s` as it may appear in a message: control characters as \xNN, at most `max_bytes` bytes of
// it (then "... (N bytes)"), so a 50 MB or escape-laden input never floods a terminal.
std::string brief(const std::string& s, size_t max_bytes = 80);

// Problems found while reading or validating inputs: errors stop the run, warnings are printed.
struct Diagnostics {
  std::vector<std::string> errors;
  std::vector<std::string> warnings;

  void error(const std::string& path, const std::string& message) {
    errors.push_back(path + ": " + message);
  }
  void warn(const std::string& path, const std::string& message) {
    warnings.push_back(path + ": " + message);
  }
  bool ok() const { return errors.empty(); }
  // Throws parplan::Error listing every error (one per line) when there is any.
  void throw_if_errors(const std::string& what) const;
};

}  // namespace parplan
