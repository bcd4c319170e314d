// Megatron-LM / Megatron-Bridge / NeMo logs, as NVIDIA/Megatron-LM@d98e8a64ddf34856e74b24714e3bedb2f5a39553
// prints them:
//   megatron/training/arguments.py _print_args: "------------------------ arguments
//     ------------------------", then "  name ....... value" (48 - len(name) dots), then
//     "-------------------- end of arguments ---------------------";
//   megatron/training/training.py training_log(): " [time] iteration {:8d}/{:8d} | consumed
//     samples: ... | elapsed time per iteration (ms): {:.1f} | throughput per GPU (TFLOP/s/GPU):
//     {:.1f} | ... | number of nan iterations: {:3d} |" (the last field closes the line);
//   megatron/training/utils/common_utils.py report_memory(): "[Rank r] (after N iterations)
//     memory (MB) | allocated: ... | max allocated: ... | reserved: ... | max reserved: ...";
//   megatron/core/tokenizers/utils/build_tokenizer.py: " > padded vocab (size: V) with D dummy
//     tokens (new size: P)" (the arguments are printed before the tokenizer pads the vocabulary);
//   training.py pretrain(): print_datetime('after training is done') at the end of training.
#include <algorithm>

#include "common.hpp"

namespace parplan::cost {

using namespace import_detail;

namespace {
const char* kArgsBegin = "------------------------ arguments ------------------------";
const char* kArgsEnd = "-------------------- end of arguments ---------------------";
const char* kElapsed = "elapsed time per iteration (ms):";
const char* kLineEnd = "number of nan iterations:";
const char* kDone = "[after training is done]";

// "  name ........ value" -> name, value (a name of 48 characters or more gets no dots).
bool arg_line(const std::string& line, std::string& name, std::string& value) {
  const std::string t = trim(line);
  const size_t sp = t.find(' ');
  if (sp == std::string::npos) return false;
  size_t i = sp + 1;
  while (i < t.size() && t[i] == '.') ++i;
  if (i >= t.size() || t[i] != ' ') return false;
  name = t.substr(0, sp);
  value = trim(t.substr(i + 1));
  return true;
}

DType dtype_of(const Args& a, Fp8Recipe& recipe, std::vector<std::string>& notes) {
  if (a.present("fp8") || a.present("fp8_format")) {
    const std::string r = a.str("fp8_recipe", "delayed");
    if (r == "delayed") recipe = Fp8Recipe::Delayed;
    else if (r == "tensorwise") recipe = Fp8Recipe::Current;
    else if (r == "blockwise") recipe = Fp8Recipe::Blockwise;
    else if (r == "mxfp8") recipe = Fp8Recipe::Mxfp8;
    else notes.push_back("fp8_recipe '" + r + "' priced as delayed scaling");
    return DType::FP8;
  }
  if (a.flag("bf16")) return DType::BF16;
  if (a.flag("fp16")) return DType::FP16;
  return DType::FP32;
}
}  // namespace

ImportedRun import_megatron(const std::string& log, const ImportOptions& o) {
  const auto lines = split_lines(log);
  ImportedRun r;
  r.reader = "megatron";
  r.commit = "NVIDIA/Megatron-LM@d98e8a64ddf34856e74b24714e3bedb2f5a39553";
  Args a;
  a.what = "the arguments block";
  size_t begin = 0, blocks = 0;
  bool in_args = false, done = false;
  int64_t padded_vocab = 0;
  std::vector<std::pair<size_t, int64_t>> iters;  // line, iteration
  for (size_t i = 0; i < lines.size(); ++i) {
    const std::string& line = lines[i];
    if (line.find(kArgsBegin) != std::string::npos) {
      if (++blocks == 2)
        fail(o, "a second arguments block at line " + std::to_string(i + 1) + " (the first at line " +
                    std::to_string(begin + 1) + "): two runs in one log; split it and import each");
      begin = i, in_args = true;
      continue;
    }
    if (in_args) {
      if (line.find(kArgsEnd) != std::string::npos) {
        in_args = false;
        continue;
      }
      std::string k, v;
      if (arg_line(line, k, v)) a.values[k] = v;
      continue;
    }
    if (line.find(kDone) != std::string::npos) done = true;
    double v = 0;
    if (number_after(line, "(new size:", v) && line.find("padded vocab") != std::string::npos)
      padded_vocab = int64_t(v);
    if (line.find("memory (MB)") != std::string::npos && number_after(line, "| max allocated:", v))
      r.memory_GiB = std::max(r.memory_GiB, v / 1024.0), r.memory_kind = "max allocated (PyTorch)";
    const size_t it = line.find(" iteration ");
    if (it == std::string::npos || line.find(" consumed samples:") == std::string::npos) continue;
    double step = 0, ms = 0;
    if (!number_after(line, " iteration ", step) || !number_after(line, kElapsed, ms) ||
        line.find(kLineEnd) == std::string::npos) {
      if (i + 1 == lines.size() || trim(lines[i + 1]).empty())
        fail(o, "the last iteration line (line " + std::to_string(i + 1) +
                    ") is cut off: the log is truncated; import a complete log");
      fail(o, "iteration line " + std::to_string(i + 1) +
                  " lacks its fields (elapsed time per iteration, number of nan iterations): "
                  "not a Megatron-LM training_log line, or lines of two ranks interleaved");
    }
    if (!r.steps.empty() && int64_t(step) <= r.steps.back().step)
      fail(o, "the iterations go back from " + std::to_string(r.steps.back().step) + " to " +
                  std::to_string(int64_t(step)) + " at line " + std::to_string(i + 1) +
                  ": two runs (or a restart) in one log; split it and import each part");
    r.steps.push_back({int64_t(step), ms / 1000.0});
    iters.push_back({i, int64_t(step)});
  }
  if (blocks == 0)
    fail(o, "no arguments block ('" + std::string(kArgsBegin) +
                "'): Megatron prints the configuration at start on rank 0; import the log from "
                "its first line (the configuration is what the run is predicted with)");
  if (in_args) fail(o, "the arguments block never ends: the log is truncated");
  if (r.steps.empty())
    fail(o, "no iteration lines ('" + std::string(kElapsed) + "'): did training start?");
  const int64_t train_iters = a.integer(o, "train_iters", 0);
  if (!done && train_iters > 0 && r.steps.back().step < train_iters && !o.allow_partial)
    fail(o, "the log ends at iteration " + std::to_string(r.steps.back().step) + " of " +
                std::to_string(train_iters) + " without Megatron's '" + kDone +
                "' line: truncated (or the run died); pass --allow-partial to use the " +
                std::to_string(r.steps.size()) + " logged steps it has");

  // The layout.
  Layout& l = r.layout;
  l.tp = int32_t(a.integer(o, "tensor_model_parallel_size", 1));
  l.pp = int32_t(a.integer(o, "pipeline_model_parallel_size", 1));
  l.cp = int32_t(a.integer(o, "context_parallel_size", 1));
  r.world_size = a.integer(o, "world_size", o.gpus);
  if (o.gpus > 0 && r.world_size != o.gpus)
    fail(o, "--gpus " + std::to_string(o.gpus) + " but the arguments say world_size " +
                std::to_string(r.world_size));
  const int64_t mp = int64_t(l.tp) * l.pp * l.cp;
  if (a.present("data_parallel_size")) {
    l.dp = int32_t(a.integer(o, "data_parallel_size"));
  } else {
    if (r.world_size <= 0)
      fail(o, "neither world_size nor data_parallel_size is in the arguments block; pass --gpus");
    if (r.world_size % mp != 0) l.dp = 0;  // reported by check_world below
    else l.dp = int32_t(r.world_size / mp);
  }
  check_world(o, r, "in the arguments block");
  l.micro_batch = int32_t(a.integer(o, "micro_batch_size"));
  if (a.flag("use_torch_fsdp2") || a.flag("use_megatron_fsdp") || a.flag("use_custom_fsdp"))
    l.zero = a.str("data_parallel_sharding_strategy", "optim_grads_params") == "optim_grads_params" ? 3
             : a.str("data_parallel_sharding_strategy") == "optim_grads" ? 2 : 1;
  else if (a.flag("use_distributed_optimizer"))
    l.zero = 1;
  const std::string rc = a.str("recompute_granularity");
  l.recompute = rc == "full" ? Recompute::Full : rc == "selective" ? Recompute::Selective : Recompute::None;
  l.sequence_parallel = a.flag("sequence_parallel");
  const int64_t vp = a.integer(o, "virtual_pipeline_model_parallel_size", 1);
  if (vp > 1) l.schedule = Schedule::Interleaved, l.virtual_stages = int32_t(vp);
  if (a.present("num_experts")) {  // Megatron prints the expert degrees for dense models too
    l.ep = int32_t(a.integer(o, "expert_model_parallel_size", 1));
    l.etp = int32_t(a.integer(o, "expert_tensor_parallel_size", l.tp));
  }
  l.first_stage_layers = int32_t(a.integer(o, "decoder_first_pipeline_num_layers", 0));
  l.last_stage_layers = int32_t(a.integer(o, "decoder_last_pipeline_num_layers", 0));

  // The training.
  Training& t = r.training;
  t.framework = "megatron-core";
  t.global_batch = a.integer(o, "global_batch_size");
  t.seq_len = a.integer(o, "seq_length");
  t.dtype = dtype_of(a, t.fp8_recipe, r.notes);
  auto sw = [&](const char* k) { return a.has(k) ? (a.flag(k) ? Switch::On : Switch::Off) : Switch::Default; };
  t.overlap_grad_reduce = sw("overlap_grad_reduce");
  t.overlap_param_gather = sw("overlap_param_gather");
  t.tp_comm_overlap = sw("tp_comm_overlap");
  if (a.flag("fp8_param_gather")) t.fp8_param_gather = Switch::On;

  // The model.
  Model& m = r.model;
  m.layers = a.integer(o, "num_layers");
  m.hidden = a.integer(o, "hidden_size");
  m.heads = a.integer(o, "num_attention_heads");
  m.kv_heads = a.flag("group_query_attention") ? a.integer(o, "num_query_groups") : m.heads;
  const int64_t kv_channels = a.integer(o, "kv_channels", 0);
  if (kv_channels > 0 && kv_channels * m.heads != m.hidden) m.head_dim_explicit = kv_channels;
  m.ffn_hidden = a.integer(o, "ffn_hidden_size", 4 * m.hidden);
  m.vocab = a.integer(o, "padded_vocab_size", padded_vocab > 0 ? padded_vocab : a.integer(o, "vocab_size", 0));
  if (m.vocab <= 0 && !o.model)
    fail(o, "the vocabulary size is not in the log (no ' > padded vocab' line, padded_vocab_size "
            "and vocab_size are None); pass --model (a preset, a model file or a Hugging Face "
            "config.json)");
  m.max_seq_len = std::max(a.integer(o, "max_position_embeddings", t.seq_len), t.seq_len);
  m.gated_mlp = a.flag("swiglu");
  m.activation = m.gated_mlp ? "silu" : "gelu";
  m.norm = a.str("normalization", "LayerNorm") == "RMSNorm" ? Norm::RMSNorm : Norm::LayerNorm;
  m.norm_bias = m.norm == Norm::LayerNorm;
  const std::string pos = a.str("position_embedding_type", "learned_absolute");
  m.position = pos == "rope" ? Position::Rotary : pos == "none" ? Position::None : Position::Learned;
  m.rotary_base = a.real(o, "rotary_base", 10000);
  m.tied_embeddings = !a.flag("untie_embeddings_and_output_weights");
  m.linear_bias = a.flag("add_bias_linear", true);
  m.qkv_bias = a.flag("add_qkv_bias", m.linear_bias);
  m.qk_norm = a.flag("qk_layernorm");
  if (a.present("num_experts")) {
    m.moe.experts = a.integer(o, "num_experts");
    m.moe.experts_per_token = a.integer(o, "moe_router_topk", 2);
    m.moe.expert_ffn_hidden = a.integer(o, "moe_ffn_hidden_size", m.ffn_hidden);
    const int64_t shared = a.integer(o, "moe_shared_expert_intermediate_size", 0);
    if (shared > 0) m.moe.shared_experts = 1, m.moe.shared_expert_ffn_hidden = shared;
    const std::string freq = a.str("moe_layer_freq", "1");
    if (freq.find_first_not_of("0123456789") == std::string::npos) m.moe.layer_freq = std::stoll(freq);
    else r.notes.push_back("moe_layer_freq '" + freq + "' (a pattern) read as every layer MoE");
  }
  m.name = "megatron-" + std::to_string(m.layers) + "l-" + std::to_string(m.hidden) + "h" +
           (m.moe.enabled() ? "-" + std::to_string(m.moe.experts) + "e" : "");

  summarize_steps(r, o.skip, "import '" + brief(o.log_name, 200) + "'");
  finish(o, r);
  return r;
}

}  // namespace parplan::cost
