#include "parplan/model/error.hpp"

namespace parplan {

void Diagnostics::throw_if_errors(const std::string& what) const {
  if (errors.empty()) return;
  std::string msg = "invalid " + what + ":";
  for (const auto& e : errors) msg += "\n  " + e;
  throw Error(msg);
}

}  // namespace parplan
