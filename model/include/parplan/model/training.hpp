#pragma once
// The training setup (docs/design.md "Training").
#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "parplan/model/error.hpp"

namespace parplan {

// FP8: GEMMs in 8-bit floats, the rest in BF16 (Micikevicius et al. 2022; NVIDIA Transformer
// Engine); activations and weights otherwise kept in BF16.
// MXFP8 and NVFP4 are GEMM dtypes only (the linear GEMMs of the mxfp8 / nvfp4 recipes, with
// dtype fp8: cost/fp8.hpp linear_gemm_dtype); train.dtype never takes them.
enum class DType { BF16, FP16, TF32, FP32, FP8, MXFP8, NVFP4 };
enum class Optimizer { Adam, Sgd };
// FP8 scaling recipe: per-tensor delayed (TE default) or current scaling, DeepSeek-V3's blockwise
// (1x128 activations, 128x128 weights), MXFP8 (32-element blocks, Blackwell), or NVFP4 (4-bit
// E2M1 in 16-element blocks with E4M3 scales, Blackwell; Transformer Engine NVFP4BlockScaling,
// passed to TE as an fp8 recipe like the others).
enum class Fp8Recipe : uint8_t { Delayed, Current, Blockwise, Mxfp8, Nvfp4 };
// Tri-state switch: Default takes the framework's behaviour (examples/frameworks/*.json).
enum class Switch : int8_t { Default = -1, Off = 0, On = 1 };

// A batch-size ramp stage: the first `tokens` tokens of the run use `global_batch`.
struct BatchStage {
  double tokens = 0;
  int64_t global_batch = 0;
};

struct Training {
  int64_t global_batch = 0;  // sequences per optimizer step
  int64_t seq_len = 0;
  DType dtype = DType::BF16;
  Fp8Recipe fp8_recipe = Fp8Recipe::Delayed;  // with dtype fp8
  std::string fp8_format = "hybrid";          // e4m3 forward, e5m2 backward; or "e4m3"
  // FP8 primary weights, all-gathered in FP8 (Megatron --fp8-param-gather, torchtitan
  // enable_fsdp_float8_all_gather); Default: off, as both frameworks default.
  Switch fp8_param_gather = Switch::Default;
  Optimizer optimizer = Optimizer::Adam;
  double learning_rate = 3e-4;  // for the batch-scaling rule (R9): the rate at base_batch
  int64_t base_batch = 0;       // the batch learning_rate was tuned for; 0: the model's reference
  // Megatron-LM accumulates gradients in fp32 main_grad buffers (4 bytes/param) instead of the
  // ZeRO paper's 16-bit gradients (2 bytes/param).
  bool fp32_grad_accum = false;
  // Fused flash attention keeps no s*s score matrix (Dao et al. 2022); "standard" attention stores
  // softmax output and dropout mask as Korthikanti et al. 2022 count them.
  bool flash_attention = true;

  // The framework that runs the plan: its behaviours (how ZeRO-3 gathers, what overlaps) are data
  // in examples/frameworks/<name>.json. "" : megatron-core.
  std::string framework;
  Switch tp_comm_overlap = Switch::Default;       // Megatron --tp-comm-overlap, torchtitan async TP
  Switch overlap_grad_reduce = Switch::Default;   // --overlap-grad-reduce
  Switch overlap_param_gather = Switch::Default;  // --overlap-param-gather
  Switch moe_a2a_overlap = Switch::Default;       // all-to-all hidden behind compute (DualPipe)
  // torch.compile (torchtitan --training.compile): elementwise ops fused instead of run as eager
  // kernels; Default: the framework's default (examples/frameworks/*.json "eager_elementwise").
  Switch compile = Switch::Default;
  // Megatron-Core's CUDA-graph scopes (--cuda-graph-impl transformer_engine --cuda-graph-scope):
  // the parts of a layer captured as graphs, each replayed by one launch per pass (floors.cpp;
  // the scopes a framework prices: examples/frameworks/*.json kernels.graph_scopes). Empty: eager.
  std::vector<std::string> cuda_graph_scope;

  // The whole run (cost/run.cpp): total tokens, an optional batch ramp, the LR schedule's name.
  double tokens = 0;  // 0: per-step answers only
  std::vector<BatchStage> batch_ramp;
  std::string lr_schedule;
  bool async_checkpoint = false;  // checkpoint written in the background (only the copy blocks)

  // Bytes of one element of activations and 16-bit weights (FP8 keeps activations in BF16).
  int element_bytes() const {
    return (dtype == DType::BF16 || dtype == DType::FP16 || dtype == DType::FP8) ? 2 : 4;
  }
  bool mixed_precision() const { return element_bytes() == 2; }
  bool fp8() const { return dtype == DType::FP8; }
  const std::string& framework_name() const;  // framework, or "megatron-core" when empty
};

void validate(const Training& t, Diagnostics& d, const std::string& prefix = "train");
Training training_from_json(const nlohmann::json& j, Diagnostics& d,
                            const std::string& prefix = "train");
nlohmann::json to_json(const Training& t);

const char* to_string(DType t);
const char* to_string(Optimizer o);
const char* to_string(Fp8Recipe r);
const char* to_string(Switch s);
bool parse_dtype(const std::string& s, DType& out);
bool parse_fp8_recipe(const std::string& s, Fp8Recipe& out);

}  // namespace parplan
