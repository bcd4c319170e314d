#pragma once
// The training setup (DESIGN.md "Training").
#include <cstdint>
#include <string>

#include <nlohmann/json_fwd.hpp>

#include "parplan/model/error.hpp"

namespace parplan {

enum class DType { BF16, FP16, TF32, FP32 };
enum class Optimizer { Adam, Sgd };

struct Training {
  int64_t global_batch = 0;  // sequences per optimizer step
  int64_t seq_len = 0;
  DType dtype = DType::BF16;
  Optimizer optimizer = Optimizer::Adam;
  double learning_rate = 3e-4;  // for the batch-scaling rule (R9): the rate at base_batch
  int64_t base_batch = 0;       // the batch learning_rate was tuned for; 0: the micro-batch
  // Megatron-LM accumulates gradients in fp32 main_grad buffers (4 bytes/param) instead of the
  // ZeRO paper's 16-bit gradients (2 bytes/param).
  bool fp32_grad_accum = false;
  // Fused flash attention keeps no s*s score matrix (Dao et al. 2022); "standard" attention stores
  // softmax output and dropout mask as Korthikanti et al. 2022 count them.
  bool flash_attention = true;

  // Bytes of one element in the training dtype (activations, 16-bit weights).
  int element_bytes() const { return (dtype == DType::BF16 || dtype == DType::FP16) ? 2 : 4; }
  bool mixed_precision() const { return element_bytes() == 2; }
};

void validate(const Training& t, Diagnostics& d, const std::string& prefix = "train");
Training training_from_json(const nlohmann::json& j, Diagnostics& d,
                            const std::string& prefix = "train");
nlohmann::json to_json(const Training& t);

const char* to_string(DType t);
const char* to_string(Optimizer o);
bool parse_dtype(const std::string& s, DType& out);

}  // namespace parplan
