#pragma once
// Internal: Hugging Face config.json reading (hf.cpp).
#include <string>

#include <nlohmann/json_fwd.hpp>

#include "parplan/model/model.hpp"

namespace parplan::detail {

// Reads a Hugging Face config.json of a model_type parplan knows (docs/models.md lists them);
// every key that changes parameters, FLOPs or memory is used, every other one warns unless it is
// on the type's list of keys that change none of them. An unknown model_type whose keys parplan
// cannot place is an error naming those keys.
Model model_from_hf(const nlohmann::json& j, Diagnostics& d, const std::string& prefix);

// The model_types model_from_hf reads, comma separated (for messages and docs).
std::string hf_model_types();

}  // namespace parplan::detail
