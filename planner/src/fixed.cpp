// Parsing `--fix key=value,...`: the dimensions the user pins for the search.
#include <cctype>
#include <charconv>
#include <string>
#include <string_view>

#include "parplan/model/error.hpp"
#include "parplan/planner/search.hpp"

namespace parplan::planner {

namespace {

constexpr const char* kKeys =
    "dp, tp, pp, cp, mb (micro_batch), zero, v (virtual_stages), recompute (rc), "
    "sp (sequence_parallel), schedule, offload, ep, etp";

std::string trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return std::string(s);
}

int32_t parse_degree(const std::string& key, const std::string& value, int32_t min, int32_t max) {
  int64_t v = 0;
  const char* end = value.data() + value.size();
  auto [ptr, ec] = std::from_chars(value.data(), end, v);
  if (value.empty() || ec != std::errc() || ptr != end)
    throw Error("--fix " + key + "=" + value + ": '" + value + "' is not an integer; write e.g. " +
                key + "=" + std::to_string(min == 0 ? 1 : 2 * min));
  if (v < min || v > max)
    throw Error("--fix " + key + "=" + value + ": must be between " + std::to_string(min) +
                " and " + std::to_string(max));
  return static_cast<int32_t>(v);
}

bool parse_bool(const std::string& key, const std::string& value) {
  if (value == "true" || value == "1" || value == "on" || value == "yes") return true;
  if (value == "false" || value == "0" || value == "off" || value == "no") return false;
  throw Error("--fix " + key + "=" + value + ": expected true or false");
}

}  // namespace

Fixed parse_fixed(const std::string& text) {
  Fixed f;
  std::string_view rest = text;
  while (!rest.empty()) {
    size_t comma = rest.find(',');
    std::string item = trim(rest.substr(0, comma));
    rest = comma == std::string_view::npos ? std::string_view() : rest.substr(comma + 1);
    if (item.empty()) continue;
    size_t eq = item.find('=');
    if (eq == std::string::npos)
      throw Error("--fix '" + item + "': expected key=value (keys: " + kKeys + ")");
    std::string key = trim(std::string_view(item).substr(0, eq));
    std::string value = trim(std::string_view(item).substr(eq + 1));
    for (auto& ch : key) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
    constexpr int32_t kMaxDeg = 1 << 24;
    if (key == "dp")
      f.dp = parse_degree(key, value, 1, kMaxDeg);
    else if (key == "tp")
      f.tp = parse_degree(key, value, 1, kMaxDeg);
    else if (key == "pp")
      f.pp = parse_degree(key, value, 1, kMaxDeg);
    else if (key == "cp")
      f.cp = parse_degree(key, value, 1, kMaxDeg);
    else if (key == "mb" || key == "micro_batch")
      f.micro_batch = parse_degree(key, value, 1, kMaxDeg);
    else if (key == "zero")
      f.zero = parse_degree(key, value, 0, 3);
    else if (key == "ep")
      f.ep = parse_degree(key, value, 1, kMaxDeg);
    else if (key == "etp")
      f.etp = parse_degree(key, value, 1, kMaxDeg);
    else if (key == "v" || key == "virtual_stages")
      f.virtual_stages = parse_degree(key, value, 1, 1024);
    else if (key == "recompute" || key == "rc") {
      Recompute r;
      if (!parse_recompute(value, r))
        throw Error("--fix " + key + "=" + value + ": expected none, selective or full");
      f.recompute = r;
    } else if (key == "sp" || key == "sequence_parallel") {
      f.sequence_parallel = parse_bool(key, value);
    } else if (key == "schedule") {
      Schedule s;
      if (!parse_schedule(value, s))
        throw Error("--fix " + key + "=" + value + ": expected gpipe, 1f1b or interleaved");
      f.schedule = s;
    } else if (key == "offload") {
      Offload o;
      if (!parse_offload(value, o))
        throw Error("--fix " + key + "=" + value +
                    ": expected none, optimizer or optimizer+params");
      f.offload = o;
    } else {
      throw Error("--fix: unknown key '" + key + "'; known keys: " + kKeys);
    }
  }
  return f;
}

}  // namespace parplan::planner
