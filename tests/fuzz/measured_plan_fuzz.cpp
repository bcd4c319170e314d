// libFuzzer target for the files `parplan compare`, `fit`, `export`, `simulate` and `run --plan`
// read back: measured.json (parplan/model/measured.hpp) and plan.json. Any input must become a
// value or a clear parplan::Error; a plan that reads back must survive copying and dumping (its
// prediction and rules are kept as JSON).
#include <cstddef>
#include <cstdint>
#include <string>

#include <nlohmann/json.hpp>

#include "json_mutator.hpp"
#include "parplan/model/io.hpp"
#include "parplan/model/measured.hpp"

PARPLAN_JSON_CUSTOM_MUTATOR

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  try {
    parplan::Plan p = parplan::load_plan(text);  // inline JSON when it starts with '{'
    parplan::Plan copy = p;
    (void)parplan::to_json(copy).dump();
  } catch (const parplan::Error&) {
  }
  nlohmann::json j = nlohmann::json::parse(text, nullptr, false);
  if (j.is_discarded()) return 0;
  for (const char* stat : {"mean", "median", "min", "p99"}) {
    parplan::Diagnostics d;
    try {
      auto m = parplan::measured_from_json(j, stat, "fuzz.json", d);
      if (d.ok() && m.has_plan) (void)parplan::to_json(m.plan).dump();
      d.throw_if_errors("fuzz input");
    } catch (const parplan::Error&) {
    }
  }
  return 0;
}
