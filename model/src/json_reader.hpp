#pragma once
// Internal: typed field access on a JSON object that reports every problem with its path and
// warns about keys nobody read.
#include <cmath>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "parplan/model/error.hpp"

namespace parplan::detail {

// Whether `j` nests arrays/objects more than `limit` levels deep, checked without recursion
// (copying, comparing or dumping such a value recurses once per level and overflows the stack).
inline bool nested_deeper_than(const nlohmann::json& j, size_t limit) {
  std::vector<std::pair<const nlohmann::json*, size_t>> stack{{&j, 0}};
  while (!stack.empty()) {
    auto [v, depth] = stack.back();
    stack.pop_back();
    if (!v->is_structured()) continue;
    if (depth >= limit) return true;
    for (const auto& child : *v) stack.emplace_back(&child, depth + 1);
  }
  return false;
}

class ObjectReader {
 public:
  ObjectReader(const nlohmann::json& j, Diagnostics& d, std::string path)
      : j_(j), d_(d), path_(std::move(path)) {
    if (!j_.is_object()) d_.error(path_, std::string("must be a JSON object, got ") + j_.type_name());
  }
  bool ok() const { return j_.is_object(); }
  bool has(const char* key) const { return ok() && j_.contains(key); }
  std::string field(const char* key) const { return path_ + "." + key; }

  // Integer in [lo, hi]; absent keys keep `out` unless required.
  void integer(const char* key, int64_t& out, bool required, int64_t lo, int64_t hi) {
    const nlohmann::json* v = get(key, required);
    if (!v) return;
    if (!v->is_number()) return type_error(key, "an integer", *v);
    double x = v->get<double>();
    if (!std::isfinite(x) || x != std::floor(x)) return type_error(key, "an integer", *v);
    if (x < double(lo) || x > double(hi)) {
      d_.error(field(key), "must be between " + std::to_string(lo) + " and " + std::to_string(hi) +
                               ", got " + describe(*v));
      return;
    }
    out = int64_t(x);
  }
  void integer32(const char* key, int32_t& out, bool required, int64_t lo, int64_t hi) {
    int64_t v = out;
    integer(key, v, required, lo, hi);
    out = int32_t(v);
  }
  // Number in (lo, hi] (or [lo, hi] when lo_inclusive), scaled by `scale` on the way in.
  void number(const char* key, double& out, bool required, double lo, double hi,
              double scale = 1.0, bool lo_inclusive = false) {
    const nlohmann::json* v = get(key, required);
    if (!v) return;
    if (!v->is_number()) return type_error(key, "a number", *v);
    double x = v->get<double>();
    bool low_ok = lo_inclusive ? x >= lo : x > lo;
    if (!std::isfinite(x) || !low_ok || x > hi) {
      d_.error(field(key), std::string("must be ") + (lo_inclusive ? ">= " : "> ") + fmt(lo) +
                               " and <= " + fmt(hi) + ", got " + describe(*v));
      return;
    }
    out = x * scale;
  }
  void boolean(const char* key, bool& out, bool required) {
    const nlohmann::json* v = get(key, required);
    if (!v) return;
    if (!v->is_boolean()) return type_error(key, "true or false", *v);
    out = v->get<bool>();
  }
  bool string(const char* key, std::string& out, bool required) {
    const nlohmann::json* v = get(key, required);
    if (!v) return false;
    if (!v->is_string()) {
      type_error(key, "a string", *v);
      return false;
    }
    const auto& text = v->get_ref<const std::string&>();
    constexpr size_t kMaxString = 4096;  // names and choices; a longer one is a mistake
    if (text.size() > kMaxString) {
      d_.error(field(key), "is " + std::to_string(text.size()) + " bytes long; at most " +
                               std::to_string(kMaxString) + " (got \"" + brief(text) + "\")");
      return false;
    }
    for (unsigned char c : text)
      if (c < 0x20 || c == 0x7f) {
        d_.error(field(key), "must not contain control characters (tabs, newlines, escapes), got \"" +
                                 brief(text) + "\"");
        return false;
      }
    out = text;
    return true;
  }
  // A string that must be one of the values a parser accepts.
  template <class T, class Parse>
  void choice(const char* key, T& out, bool required, Parse parse, const char* allowed) {
    std::string s;
    if (!string(key, s, required)) return;
    if (!parse(s, out)) d_.error(field(key), "unknown value \"" + brief(s) + "\"; use one of " + allowed);
  }
  const nlohmann::json* object(const char* key, bool required) {
    return of_type(key, required, &nlohmann::json::is_object, "a JSON object");
  }
  const nlohmann::json* array(const char* key, bool required) {
    return of_type(key, required, &nlohmann::json::is_array, "a JSON array");
  }
  // Marks a key as known without reading it.
  void skip(const char* key) { seen_.insert(key); }

  // A value as an error message shows it: scalars as JSON (strings cut by brief()), arrays and
  // objects by size only. Never a recursive dump(): a value nested 100,000 levels deep must not
  // overflow the stack.
  static std::string describe(const nlohmann::json& v) {
    switch (v.type()) {
      case nlohmann::json::value_t::array:
        return "an array of " + std::to_string(v.size()) + " elements";
      case nlohmann::json::value_t::object:
        return "an object with " + std::to_string(v.size()) + " keys";
      case nlohmann::json::value_t::string:
        return "\"" + brief(v.get_ref<const std::string&>()) + "\"";
      case nlohmann::json::value_t::binary:
        return "binary data";
      default:
        return v.dump();  // null, boolean, number: a few characters
    }
  }

  // Keys present but never read (nor skipped), in file order.
  std::vector<std::string> unread() const {
    std::vector<std::string> out;
    if (!ok()) return out;
    for (auto it = j_.begin(); it != j_.end(); ++it)
      if (!seen_.count(it.key())) out.push_back(it.key());
    return out;
  }
  // Warns for each key that was never read.
  void warn_unknown() {
    if (!ok()) return;
    for (auto it = j_.begin(); it != j_.end(); ++it)
      if (!seen_.count(it.key()))
        d_.warn(path_ + "." + brief(it.key()), "unknown key, ignored (check the spelling)");
  }

 private:
  // The value at key when it is of the kind `is` tests, else null with one error naming the kind.
  const nlohmann::json* of_type(const char* key, bool required,
                                bool (nlohmann::json::*is)() const noexcept, const char* kind) {
    const nlohmann::json* v = get(key, required);
    if (v && !(v->*is)()) {
      type_error(key, kind, *v);
      return nullptr;
    }
    return v;
  }
  const nlohmann::json* get(const char* key, bool required) {
    seen_.insert(key);
    if (!ok()) return nullptr;
    auto it = j_.find(key);
    if (it == j_.end() || it->is_null()) {
      if (required) d_.error(field(key), "is missing; add it");
      return nullptr;
    }
    return &*it;
  }
  void type_error(const char* key, const char* want, const nlohmann::json& v) {
    d_.error(field(key), std::string("must be ") + want + ", got " + describe(v));
  }
  static std::string fmt(double x) {
    nlohmann::json j = x;
    return j.dump();
  }

  const nlohmann::json& j_;
  Diagnostics& d_;
  std::string path_;
  std::set<std::string> seen_;
};

}  // namespace parplan::detail
