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
