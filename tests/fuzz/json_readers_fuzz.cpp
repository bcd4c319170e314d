// libFuzzer target: every JSON reader of model/ must turn any input into a value or a clear
// parplan::Error, never a crash, a hang or undefined behaviour. Inputs are mutated structurally
// (json_mutator.hpp: hostile values inside valid skeletons) as well as byte by byte.
#include <cstddef>
#include <cstdint>
#include <string>

#include <nlohmann/json.hpp>

#include "json_mutator.hpp"
#include "parplan/model/io.hpp"

namespace {
template <class F>
void read(const nlohmann::json& j, F f) {
  parplan::Diagnostics d;
  try {
    f(j, d);
    if (d.ok()) return;
    d.throw_if_errors("fuzz input");
  } catch (const parplan::Error&) {
  }
}
}  // namespace

PARPLAN_JSON_CUSTOM_MUTATOR

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  // The loaders take inline JSON when the text starts with '{'.
  try {
    parplan::load_model(text);
  } catch (const parplan::Error&) {
  }
  nlohmann::json j = nlohmann::json::parse(text, nullptr, false);
  if (j.is_discarded()) return 0;
  read(j, [](const nlohmann::json& v, parplan::Diagnostics& d) { parplan::model_from_json(v, d); });
  read(j, [](const nlohmann::json& v, parplan::Diagnostics& d) { parplan::cluster_from_json(v, d); });
  read(j, [](const nlohmann::json& v, parplan::Diagnostics& d) { parplan::training_from_json(v, d); });
  read(j, [](const nlohmann::json& v, parplan::Diagnostics& d) { parplan::layout_from_json(v, d); });
  read(j, [](const nlohmann::json& v, parplan::Diagnostics& d) { parplan::plan_from_json(v, d); });
  // The same value as each kind of field of the others, so a model skeleton tests the cluster
  // reader's type checks and so on.
  for (const char* k : {"model", "cluster", "train", "layout"})
    if (j.is_object() && j.contains(k))
      read(j[k], [](const nlohmann::json& v, parplan::Diagnostics& d) { parplan::layout_from_json(v, d); });
  return 0;
}
