#include "parplan/model/error.hpp"

#include <algorithm>
#include <cstdio>

namespace parplan {

std::string brief(const std::string& s, size_t max_bytes) {
  std::string out;
  size_t n = std::min(s.size(), max_bytes);
  while (n > 0 && n < s.size() && (static_cast<unsigned char>(s[n]) & 0xC0) == 0x80) --n;  // whole UTF-8
  for (size_t i = 0; i < n; ++i) {
    auto c = static_cast<unsigned char>(s[i]);
    if (c < 0x20 || c == 0x7f) {
      char b[8];
      std::snprintf(b, sizeof b, "\\x%02x", c);
      out += b;
    } else {
      out += char(c);
    }
  }
  if (n < s.size()) out += "... (" + std::to_string(s.size()) + " bytes)";
  return out;
}

void Diagnostics::throw_if_errors(const std::string& what) const {
  if (errors.empty()) return;
  std::string msg = "invalid " + what + ":";
  for (const auto& e : errors) msg += "\n  " + e;
  throw Error(msg);
}

}  // namespace parplan
