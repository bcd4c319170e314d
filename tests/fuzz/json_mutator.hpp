#pragma once
// Structure-aware libFuzzer mutation for JSON inputs: when the input parses, one value inside it
// (chosen at random, at any depth) is replaced by a hostile one — an extreme number, a long or
// control-character string, a value of the wrong type, or an array nested thousands of levels
// deep — and the document is written back. The readers then see valid skeletons (the shipped
// presets and the seeds below) with bad values in real fields, which byte-level mutation rarely
// reaches. Otherwise libFuzzer's own byte mutation runs.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

extern "C" size_t LLVMFuzzerMutate(uint8_t* data, size_t size, size_t max_size);

namespace parplan_fuzz {

inline nlohmann::json hostile_value(std::mt19937& rng, size_t max_size) {
  auto pick = [&](size_t n) { return size_t(rng() % n); };
  switch (pick(9)) {
    case 0: {  // extreme numbers
      const double v[] = {1e308, -1e308, 0.0, -0.0, 5e-324, 9.3e18, -9.3e18, 2147483648.0, 0.5, -1.0,
                          1e-300, 4294967296.0, 1e15 + 0.5};
      return v[pick(sizeof v / sizeof v[0])];
    }
    case 1: {
      const int64_t v[] = {std::numeric_limits<int64_t>::max(), std::numeric_limits<int64_t>::min(),
                           0, -1, 1, 3, 7, 1 << 30, int64_t(1) << 53};
      return v[pick(sizeof v / sizeof v[0])];
    }
    case 2: return std::numeric_limits<uint64_t>::max();
    case 3: {  // long strings, up to a fraction of the size budget
      size_t n = std::min<size_t>(max_size / 4, size_t(1) << pick(18));
      return std::string(n, char('a' + pick(26)));
    }
    case 4: {  // control characters and odd text
      const char* v[] = {"\x1b[31mred", "a\nb", "\t", "", "bf16\x00x", "\xc3\xa9", "none", "1f1b",
                         "selective", "-1", "NaN", "Infinity"};
      return std::string(v[pick(sizeof v / sizeof v[0])]);
    }
    case 5: {  // deep nesting inside a field: a placeholder, expanded as text after dump()
      // (dumping a deep value recurses once per level, in the mutator as in the readers)
      size_t depth = std::min<size_t>(max_size / 3, size_t(1) << (4 + pick(14)));
      return "__parplan_deep_" + std::to_string(depth) + "__";
    }
    case 6: return nullptr;
    case 7: return bool(pick(2));
    default: return nlohmann::json::object({{"x", pick(100)}});
  }
}

inline bool deeper_than(const nlohmann::json& j, size_t limit) {
  std::vector<std::pair<const nlohmann::json*, size_t>> stack{{&j, 0}};
  while (!stack.empty()) {
    auto [v, d] = stack.back();
    stack.pop_back();
    if (!v->is_structured()) continue;
    if (d >= limit) return true;
    for (const auto& c : *v) stack.emplace_back(&c, d + 1);
  }
  return false;
}

// Every value's JSON pointer, iteratively (the input itself may be deep).
inline std::vector<nlohmann::json::json_pointer> value_paths(const nlohmann::json& j, size_t limit) {
  std::vector<nlohmann::json::json_pointer> out;
  std::vector<std::pair<const nlohmann::json*, nlohmann::json::json_pointer>> stack;
  stack.emplace_back(&j, nlohmann::json::json_pointer());
  while (!stack.empty() && out.size() < limit) {
    auto [v, p] = stack.back();
    stack.pop_back();
    out.push_back(p);
    if (p.to_string().size() > 512) continue;  // do not walk into deep nests
    if (v->is_object())
      for (auto it = v->begin(); it != v->end(); ++it) stack.emplace_back(&*it, p / it.key());
    else if (v->is_array())
      for (size_t i = 0; i < v->size() && i < 64; ++i) stack.emplace_back(&(*v)[i], p / i);
  }
  return out;
}

inline size_t mutate_json(uint8_t* data, size_t size, size_t max_size, unsigned seed) {
  std::mt19937 rng(seed);
  if (rng() % 4 != 0) {
    auto j = nlohmann::json::parse(data, data + size, nullptr, false);
    if (!j.is_discarded() && j.is_object() && !deeper_than(j, 256)) {
      auto paths = value_paths(j, 4096);
      const auto& p = paths[rng() % paths.size()];
      if (p.empty()) {
        j["extra_key_" + std::to_string(rng() % 10)] = hostile_value(rng, max_size);
      } else if (rng() % 8 == 0 && !p.parent_pointer().empty() && j.at(p.parent_pointer()).is_object()) {
        j.at(p.parent_pointer()).erase(p.back());  // a missing field
      } else {
        j.at(p) = hostile_value(rng, max_size);
      }
      std::string text = j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
      const std::string mark = "\"__parplan_deep_";
      if (auto at = text.find(mark); at != std::string::npos) {
        auto end = text.find("__\"", at + mark.size());
        size_t depth = std::stoul(text.substr(at + mark.size(), end - at - mark.size()));
        text.replace(at, end + 3 - at, std::string(depth, '[') + "1" + std::string(depth, ']'));
      }
      if (text.size() <= max_size) {
        std::memcpy(data, text.data(), text.size());
        return text.size();
      }
    }
  }
  return LLVMFuzzerMutate(data, size, max_size);
}

}  // namespace parplan_fuzz

#define PARPLAN_JSON_CUSTOM_MUTATOR                                                          \
  extern "C" size_t LLVMFuzzerCustomMutator(uint8_t* data, size_t size, size_t max_size,    \
                                            unsigned int seed) {                           \
    return parplan_fuzz::mutate_json(data, size, max_size, seed);                          \
  }
