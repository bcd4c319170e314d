#pragma once
// Building resource names. (GCC 12 at -O3 reports a false -Wrestrict on chains of
// "literal" + std::to_string(...) + ...; appending avoids it.)
#include <initializer_list>
#include <string>
#include <string_view>

namespace parplan::sim::detail {

inline std::string cat(std::initializer_list<std::string_view> parts) {
  std::string s;
  for (auto p : parts) s.append(p);
  return s;
}

}  // namespace parplan::sim::detail
