#pragma once
// The transformer's shape (DESIGN.md "Model" contract).
#include <cstdint>
#include <string>

#include <nlohmann/json_fwd.hpp>

#include "parplan/model/error.hpp"

namespace parplan {

struct Model {
  std::string name = "model";
  int64_t layers = 0;
  int64_t hidden = 0;
  int64_t heads = 0;
  int64_t kv_heads = 0;    // grouped-query attention; defaults to heads
  int64_t ffn_hidden = 0;  // defaults to 4 * hidden
  int64_t vocab = 0;
  int64_t max_seq_len = 0;
  bool tied_embeddings = false;
  bool gated_mlp = false;  // SwiGLU: three FFN matrices

  int64_t head_dim() const { return heads > 0 ? hidden / heads : 0; }
};

// Every problem with its field path (prefix, e.g. "model").
void validate(const Model& m, Diagnostics& d, const std::string& prefix = "model");

// Reads the parplan form, or a Hugging Face config.json (GPT-2 / Llama / Mistral keys).
Model model_from_json(const nlohmann::json& j, Diagnostics& d, const std::string& prefix = "model");
nlohmann::json to_json(const Model& m);
bool is_hf_config(const nlohmann::json& j);

}  // namespace parplan
