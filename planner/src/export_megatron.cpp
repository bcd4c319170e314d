// A plan as a Megatron-LM pretrain_gpt.py command line (Megatron-Core flags; every flag is checked
// against tests/data/upstream/megatron-lm-flags.txt, NVIDIA/Megatron-LM d98e8a6).
#include <algorithm>
#include <cmath>

#include "export_util.hpp"
#include "parplan/cost/moe.hpp"
#include "parplan/cost/context_parallel.hpp"
#include "parplan/cost/fp8.hpp"
#include "parplan/cost/pipeline.hpp"
#include "parplan/planner/assumptions.hpp"
#include "parplan/planner/export.hpp"

namespace parplan::planner {

using detail::num;
using detail::refuse;
using detail::s;

namespace {

const char* kTarget = "Megatron-LM";

// --pipeline-model-parallel-layout: one '|'-separated entry per chunk in layer order, E the
// embedding (first chunk), L the loss (last chunk), m the MTP modules, t*n n transformer layers.
std::string layout_string(const Model& m, const std::vector<int64_t>& chunks) {
  std::string out;
  for (size_t i = 0; i < chunks.size(); ++i) {
    if (i) out += "|";
    if (i == 0) out += "E";
    if (chunks[i] > 0) out += chunks[i] == 1 ? "t" : "t*" + s(chunks[i]);
    if (i + 1 == chunks.size()) {
      if (m.mtp_layers > 0) out += m.mtp_layers == 1 ? "m" : "m*" + s(m.mtp_layers);
      out += "L";
    }
  }
  return out;
}

void pipeline_args(const Plan& p, std::vector<std::string>& a) {
  const Model& m = p.model;
  const Layout& l = p.layout;
  a.push_back("--pipeline-model-parallel-size " + s(l.pp));
  if (l.pp <= 1) return;
  if (l.schedule == Schedule::GPipe)
    refuse(kTarget, "the plan uses the GPipe schedule, which Megatron-LM does not run (it runs "
                    "1F1B and interleaved 1F1B)",
           "re-plan with --fix schedule=1f1b (or schedule=interleaved), or export to deepspeed");
  if (l.schedule != Schedule::OneFOneB && l.schedule != Schedule::Interleaved)
    refuse(kTarget, std::string("the plan uses the ") + to_string(l.schedule) +
                        " schedule, which Megatron-LM does not run (megatron/core/"
                        "pipeline_parallel/schedules.py: 1F1B and interleaved 1F1B)",
           "re-plan with --fix schedule=1f1b (or schedule=interleaved), or export to torchtitan "
           "(zb-v, dualpipev)");
  const int64_t v = l.schedule == Schedule::Interleaved ? std::max(1, l.virtual_stages) : 1;
  Layout priced = l;
  priced.virtual_stages = int32_t(v);
  const auto stage = cost::stage_layer_split(m, priced);
  const auto chunks = cost::chunk_layer_split(m, priced);
  const bool even = std::all_of(chunks.begin(), chunks.end(),
                                [&](int64_t c) { return c == chunks.front(); });
  if (even) {
    if (v > 1) a.push_back("--num-virtual-stages-per-pipeline-rank " + s(v));
    return;
  }
  // Uneven: --decoder-first/last-pipeline-num-layers when the middle stages are equal and every
  // stage splits evenly into its v chunks (Megatron's TransformerConfig checks both); otherwise
  // the explicit per-chunk layout.
  const size_t pp = stage.size();
  bool first_last = pp >= 2;
  for (size_t r = 1; r + 1 < pp; ++r) first_last = first_last && stage[r] == stage[1];
  for (size_t r = 0; r < pp; ++r) first_last = first_last && stage[r] % v == 0;
  if (pp == 2) first_last = false;  // both stages uneven: no middle stage to carry the rest
  if (first_last) {
    const int64_t middle = pp > 2 ? stage[1] : 0;
    if (stage.front() != middle) a.push_back("--decoder-first-pipeline-num-layers " + s(stage.front()));
    if (stage.back() != middle) a.push_back("--decoder-last-pipeline-num-layers " + s(stage.back()));
    if (v > 1) a.push_back("--num-virtual-stages-per-pipeline-rank " + s(v));
    return;
  }
  a.push_back("--pipeline-model-parallel-layout \"" + layout_string(m, chunks) + "\"");
}

// The router and dispatcher as priced (cost/src/moe.cpp). Group-limited routing (DeepSeek-V3:
// sigmoid scores with a load-balancing expert bias, experts in `groups` groups, a token's from at
// most `groups_per_token`) is priced as DeepEP's dispatch, each token sent once per destination
// node: Megatron's flex dispatcher with the deepep backend. Otherwise a softmax router balanced by
// the auxiliary loss over a plain all-to-all. Megatron's default aux-loss coefficient is 0 (no
// balancing), while the cost model prices a balanced router (load_imbalance): the coefficients
// are the published ones, 1e-2 (Switch Transformer, Fedus et al. 2021 sec. 2.2) and
// DeepSeek-V3's sequence-wise 1e-4 (arXiv:2412.19437 sec. 4.2).
void moe_router_args(const Model& m, std::vector<std::string>& a) {
  const MoE& e = m.moe;
  if (e.groups > 0 && e.groups_per_token > 0) {
    if (e.experts % e.groups != 0)
      refuse(kTarget, s(e.experts) + " experts do not split into " + s(e.groups) + " router groups",
             "set model.moe.groups to a divisor of the expert count");
    a.push_back("--moe-router-score-function sigmoid");
    if (e.router_bias) a.push_back("--moe-router-enable-expert-bias");
    a.push_back("--moe-router-num-groups " + s(e.groups));
    a.push_back("--moe-router-group-topk " + s(e.groups_per_token));
    a.push_back("--moe-router-load-balancing-type seq_aux_loss");
    a.push_back("--moe-aux-loss-coeff 1e-4");
    a.push_back("--moe-token-dispatcher-type flex");
    a.push_back("--moe-flex-dispatcher-backend deepep");
    return;
  }
  if (e.router_bias)
    refuse(kTarget, "a router with a linear bias (gpt-oss): Megatron's router has no bias term",
           "export to torchtitan, or model.moe.router_bias false");
  a.push_back("--moe-router-load-balancing-type aux_loss");
  a.push_back("--moe-aux-loss-coeff 1e-2");
  a.push_back("--moe-token-dispatcher-type alltoall");
}

void model_args(const Plan& p, std::vector<std::string>& a) {
  const Model& m = p.model;
  const Training& t = p.training;
  a.push_back("--num-layers " + s(m.layers));
  a.push_back("--hidden-size " + s(m.hidden));
  a.push_back("--ffn-hidden-size " + s(m.ffn_hidden));
  a.push_back("--num-attention-heads " + s(m.heads));
  if (m.kv_heads != m.heads) {
    a.push_back("--group-query-attention");
    a.push_back("--num-query-groups " + s(m.kv_heads));
  }
  if (m.head_dim_explicit > 0) a.push_back("--kv-channels " + s(m.head_dim_explicit));
  a.push_back("--seq-length " + s(t.seq_len));
  a.push_back("--max-position-embeddings " + s(std::max(m.max_seq_len, t.seq_len)));
  switch (m.position) {
    case Position::Learned: a.push_back("--position-embedding-type learned_absolute"); break;
    case Position::None: a.push_back("--position-embedding-type none"); break;
    case Position::Rotary:
      if (m.mla.enabled()) {
        // MLA applies RoPE to its decoupled head dimension; --rope-type picks plain or YaRN.
        // Megatron's DeepSeek-V3 recipes (examples/post_training/modelopt/conf/deepseek-ai/
        // DeepSeek-R1.sh, d98e8a64) say --position-embedding-type rope: MTP refuses yarn there.
        a.push_back("--position-embedding-type rope");
        a.push_back(std::string("--rope-type ") + (m.rope_scaling == "yarn" ? "yarn" : "rope"));
        if (m.rope_scaling == "yarn" && m.rope_scaling_factor > 0)
          a.push_back("--rotary-scaling-factor " + num(m.rope_scaling_factor));
      } else if (m.rope_scaling == "yarn") {
        if (m.mtp_layers > 0)
          refuse(kTarget, "multi-token prediction with YaRN positions outside MLA: Megatron's "
                          "validate_args allows MTP only with rope or no position embedding",
                 "export without MTP (model.mtp_layers 0) or without YaRN");
        a.push_back("--position-embedding-type yarn");
        if (m.rope_scaling_factor > 0)
          a.push_back("--rotary-scaling-factor " + num(m.rope_scaling_factor));
      } else {
        a.push_back("--position-embedding-type rope");
      }
      a.push_back("--rotary-base " + num(m.rotary_base));
      if (m.rope_scaling == "llama3") {
        a.push_back("--use-rope-scaling");
        if (m.rope_scaling_factor > 0)
          a.push_back("--rope-scaling-factor " + num(m.rope_scaling_factor));
      } else if (m.rope_scaling == "linear" && m.rope_scaling_factor > 0) {
        a.push_back("--rotary-seq-len-interpolation-factor " +
                    s(int64_t(std::llround(m.rope_scaling_factor))));
      } else if (!m.rope_scaling.empty() && m.rope_scaling != "yarn") {
        refuse(kTarget, "rope_scaling '" + m.rope_scaling + "' has no Megatron-LM flag",
               "export without it (model.rope_scaling \"\") or use another framework");
      }
      break;
  }
  a.push_back(std::string("--normalization ") + (m.norm == Norm::RMSNorm ? "RMSNorm" : "LayerNorm"));
  // MLA's latent norms (DeepSeek-V2/V3 q_a_layernorm, kv_a_layernorm; priced in the model's
  // parameters) are Megatron's --qk-layernorm under --multi-latent-attention.
  if (m.qk_norm || m.mla.enabled()) a.push_back("--qk-layernorm");
  if (!m.linear_bias) {
    a.push_back("--disable-bias-linear");
    if (m.qkv_bias) a.push_back("--add-qkv-bias");
  } else if (!m.qkv_bias) {
    refuse(kTarget, "the model has linear biases but none on Q/K/V; Megatron's --add-bias-linear "
                    "covers both",
           "set model.qkv_bias true (or linear_bias false) to match a Megatron model");
  }
  if (m.gated_mlp) {
    if (!m.activation.empty() && m.activation != "silu" && m.activation != "swish")
      refuse(kTarget, "gated MLP with activation '" + m.activation +
                          "': Megatron's command line offers a gated MLP only as --swiglu",
             "use a SwiGLU model or export to torchtitan");
    a.push_back("--swiglu");
  } else if (m.activation == "gelu_tanh" || m.activation == "gelu_new" ||
             m.activation == "gelu_pytorch_tanh") {
    // No flag: Megatron-Core's MLP reads only --swiglu / --squared-relu (megatron/training/
    // argument_utils.py, d98e8a64) and builds F.gelu; --openai-gelu is parsed and never used.
    // The tanh approximation costs the same as the erf GELU priced.
  } else if (m.activation == "relu2" || m.activation == "squared_relu") {
    a.push_back("--squared-relu");
  } else if (!m.activation.empty() && m.activation != "gelu") {
    refuse(kTarget, "activation '" + m.activation + "' has no Megatron-LM flag",
           "use gelu, gelu_tanh, squared relu or SwiGLU");
  }
  if (m.parallel_residual)
    refuse(kTarget, "Megatron-Core's GPT has no parallel attention/MLP residual",
           "export to torchtitan, or model.parallel_residual false");
  if (!m.tied_embeddings) a.push_back("--untie-embeddings-and-output-weights");
  // The vocabulary as priced, pinned: without --padded-vocab-size Megatron pads the tokenizer's
  // vocabulary to a multiple of make_vocab_size_divisible_by x tp (build_tokenizer.py,
  // d98e8a64), which may differ from the model's. The embedding splits it over tp ranks.
  a.push_back("--padded-vocab-size " + s(detail::tp_padded_vocab(m.vocab, p.layout.tp)));
  if (m.sliding_window > 0) {
    a.push_back("--window-size " + s(m.sliding_window) + ",0");
    if (m.sliding_window_pattern > 1)
      a.push_back("--window-attn-skip-freq " + s(m.sliding_window_pattern));
  }
  if (m.is_moe()) {
    const MoE& e = m.moe;
    a.push_back("--num-experts " + s(e.experts));
    a.push_back("--moe-router-topk " + s(e.experts_per_token));
    a.push_back("--moe-ffn-hidden-size " + s(e.expert_ffn_hidden > 0 ? e.expert_ffn_hidden : m.ffn_hidden));
    if (e.shared_experts > 0) {
      const int64_t w = e.shared_expert_ffn_hidden > 0 ? e.shared_expert_ffn_hidden
                                                       : (e.expert_ffn_hidden > 0 ? e.expert_ffn_hidden : m.ffn_hidden);
      a.push_back("--moe-shared-expert-intermediate-size " + s(e.shared_experts * w));
    }
    if (e.first_dense_layers > 0 || e.layer_freq > 1) {
      std::string pat = "[";
      for (int64_t i = 0; i < m.layers; ++i) pat += std::string(i ? "," : "") + (m.is_moe_layer(i) ? "1" : "0");
      a.push_back("--moe-layer-freq \"" + pat + "]\"");
    }
    if (e.capacity_factor > 0) a.push_back("--moe-expert-capacity-factor " + num(e.capacity_factor));
    moe_router_args(m, a);
    a.push_back("--moe-grouped-gemm");
  }
  if (m.mla.enabled()) {
    a.push_back("--multi-latent-attention");
    if (m.mla.q_lora_rank > 0) a.push_back("--q-lora-rank " + s(m.mla.q_lora_rank));
    a.push_back("--kv-lora-rank " + s(m.mla.kv_lora_rank));
    a.push_back("--qk-head-dim " + s(m.mla.qk_nope_head_dim));
    a.push_back("--qk-pos-emb-head-dim " + s(m.mla.qk_rope_head_dim));
    a.push_back("--v-head-dim " + s(m.mla.v_head_dim));
  }
  if (m.mtp_layers > 0) a.push_back("--mtp-num-layers " + s(m.mtp_layers));
}

}  // namespace

std::vector<std::string> megatron_args(const Plan& p) {
  const Layout& l = p.layout;
  const Training& t = p.training;
  const Overlap o = resolved_overlap(t, l);
  std::vector<std::string> a;
  // Parallelism.
  a.push_back("--tensor-model-parallel-size " + s(l.tp));
  pipeline_args(p, a);
  if (l.cp > 1) {
    a.push_back("--context-parallel-size " + s(l.cp));
    if (l.cp_kind == CpKind::Ulysses) a.push_back("--cp-comm-type a2a");
    if (l.cp_kind == CpKind::Usp) {
      // The share as priced: layout.ulysses, or (0) the one the cost model derives.
      const int32_t u = cost::ulysses_degree(p.model, p.cluster, l);
      a.push_back("--cp-comm-type a2a+p2p");
      a.push_back("--hierarchical-context-parallel-sizes " + s(u) + " " + s(l.cp / u));
    }
  }
  if (l.sequence_parallel) a.push_back("--sequence-parallel");
  if (p.model.is_moe()) {
    a.push_back("--expert-model-parallel-size " + s(l.ep));
    a.push_back("--expert-tensor-parallel-size " + s(l.etp));
    // The all-to-all overlapped across micro-batches as priced (cost/moe.cpp, memory.cpp: one
    // more micro-batch in flight): Megatron-Core's combined 1F1B, --overlap-moe-expert-parallel-comm
    // (NVIDIA/Megatron-LM d98e8a6 megatron/core/transformer/transformer_config.py asserts ep > 1,
    // no full recomputation, and virtual stages when pp > 1); where those do not hold the flag is
    // left out, as before.
    if (cost::moe_a2a_overlapped(p.training) && l.ep > 1 && l.recompute != Recompute::Full &&
        (l.pp == 1 || l.schedule == Schedule::Interleaved))
      a.push_back("--overlap-moe-expert-parallel-comm");
  }
  // Data parallelism and ZeRO: the distributed optimizer shards optimizer state (ZeRO-1);
  // Megatron-FSDP shards gradients too (ZeRO-2) or also parameters (ZeRO-3).
  // HSDP (layout.shard_group): Megatron-FSDP shards inside each of
  // --num-distributed-optimizer-instances groups and, with --outer-dp-sharding-strategy no_shard,
  // replicates across them (megatron/core/distributed/fsdp/mcore_fsdp_adapter.py: enable_hsdp;
  // NVIDIA/Megatron-LM d98e8a6).
  const bool hsdp = l.shard_size() != l.dp;
  if (hsdp && l.zero == 2)
    refuse(kTarget, "HSDP (layout.shard_group " + s(l.shard_size()) + " of dp " + s(l.dp) +
                        ") with ZeRO-2: Megatron-FSDP's hybrid sharding is priced for ZeRO-3 only",
           "re-plan with --fix zero=3, or export to torchtitan (data_parallel_replicate_degree)");
  if (l.zero == 1) {
    a.push_back("--use-distributed-optimizer");
    if (hsdp) a.push_back("--num-distributed-optimizer-instances " + s(l.dp / l.shard_size()));
  } else if (l.zero >= 2) {
    a.push_back("--use-megatron-fsdp");
    a.push_back(std::string("--data-parallel-sharding-strategy ") +
                (l.zero == 2 ? "optim_grads" : "optim_grads_params"));
    if (hsdp) {
      a.push_back("--num-distributed-optimizer-instances " + s(l.dp / l.shard_size()));
      a.push_back("--outer-dp-sharding-strategy no_shard");
    }
    a.push_back("--ckpt-format fsdp_dtensor");
  }
  if (l.offload == Offload::OptimizerAndParams)
    refuse(kTarget, "Megatron-LM cannot offload parameters to the host",
           "export to deepspeed, or re-plan with --fix offload=optimizer or offload=none");
  if (l.offload == Offload::Optimizer) {
    if (l.zero < 1)
      refuse(kTarget, "Megatron's --optimizer-cpu-offload needs the distributed optimizer",
             "re-plan with --fix zero=1");
    if (l.offload_device == OffloadDevice::Nvme)
      refuse(kTarget, "Megatron-LM cannot offload to NVMe", "export to deepspeed");
    // validate_args (d98e8a64): "The optimizer cpu offload must be used in conjunction with
    // `--use-precision-aware-optimizer`"; with FP8 parameter all-gather only under delayed scaling.
    if (cost::fp8_param_gather(p.training) && p.training.fp8_recipe != Fp8Recipe::Delayed)
      refuse(kTarget, "optimizer CPU offload with FP8 parameter all-gather runs only with delayed "
                      "scaling (validate_args)",
             "set train.fp8_param_gather off, or train.fp8_recipe delayed");
    a.push_back("--optimizer-cpu-offload");
    a.push_back("--use-precision-aware-optimizer");
    a.push_back("--overlap-cpu-optimizer-d2h-h2d");
  }
  if (l.tiles > 1)
    refuse(kTarget, "tiled linear layers (layout.tiles) are DeepSpeed's", "export to deepspeed");
  if (l.dp > 1 && o.grad_reduce) a.push_back("--overlap-grad-reduce");
  if (l.dp > 1 && l.zero >= 1 && o.param_gather) a.push_back("--overlap-param-gather");
  if (l.tp > 1 && o.tp_comm) {
    if (!l.sequence_parallel)
      refuse(kTarget, "--tp-comm-overlap needs sequence parallelism",
             "re-plan with --fix sp=true, or train.tp_comm_overlap off");
    a.push_back("--tp-comm-overlap");
  }
  // Recomputation.
  if (l.recompute == Recompute::Selective) {
    // Megatron-Core's modules, space-separated (Megatron-LM@b0cc270 argument_utils.py: a List
    // field of TransformerConfig is an nargs='+' flag).
    std::string mods = recompute_modules_list(recomputed_modules(l));
    std::replace(mods.begin(), mods.end(), ',', ' ');
    a.push_back("--recompute-granularity selective");
    a.push_back("--recompute-modules " + mods);
  } else if (l.recompute == Recompute::Full) {
    a.push_back("--recompute-granularity full");
    a.push_back("--recompute-method uniform");
    a.push_back("--recompute-num-layers 1");
  }
  model_args(p, a);
  // Precision and kernels.
  if (t.dtype == DType::BF16 || t.dtype == DType::FP8) a.push_back("--bf16");
  if (t.dtype == DType::FP16) a.push_back("--fp16");
  if (t.fp8() && t.fp8_recipe == Fp8Recipe::Nvfp4) {
    // NVFP4 (Blackwell): Megatron-LM's own FP4 switches (megatron/training/arguments.py:
    // --fp4-format e2m1, --fp4-recipe nvfp4 -> TE NVFP4BlockScaling), not an --fp8-recipe.
    a.push_back("--fp4-format e2m1");
    a.push_back("--fp4-recipe nvfp4");
  } else if (t.fp8()) {
    a.push_back("--fp8-format " + std::string(t.fp8_format == "e4m3" ? "e4m3" : "hybrid"));
    const char* recipe = "delayed";
    switch (t.fp8_recipe) {
      case Fp8Recipe::Delayed: recipe = "delayed"; break;
      case Fp8Recipe::Current: recipe = "tensorwise"; break;
      case Fp8Recipe::Blockwise: recipe = "blockwise"; break;
      case Fp8Recipe::Mxfp8: recipe = "mxfp8"; break;
      case Fp8Recipe::Nvfp4: break;  // handled above
    }
    a.push_back(std::string("--fp8-recipe ") + recipe);
    // FP8 primary weights, all-gathered in FP8 by the distributed optimizer / FSDP.
    if (cost::fp8_param_gather(t)) a.push_back("--fp8-param-gather");
  }
  if (t.fp32_grad_accum) a.push_back("--accumulate-allreduce-grads-in-fp32");
  // The attention kernel the megatron-core preset prices (examples/frameworks/megatron-core.json
  // attention_kernel): Transformer Engine's cuDNN fused attention; "flash" would switch it off.
  a.push_back(std::string("--attention-backend ") + (t.flash_attention ? "fused" : "unfused"));
  // Batch, optimizer, length of the run.
  a.push_back("--micro-batch-size " + s(l.micro_batch));
  a.push_back("--global-batch-size " + s(t.global_batch));
  a.push_back(std::string("--optimizer ") + (t.optimizer == Optimizer::Sgd ? "sgd" : "adam"));
  a.push_back("--lr " + num(t.learning_rate));
  if (t.lr_schedule == "cosine" || t.lr_schedule == "linear" || t.lr_schedule == "constant" ||
      t.lr_schedule == "WSD" || t.lr_schedule == "inverse-square-root")
    a.push_back("--lr-decay-style " + t.lr_schedule);
  detail::append_data_args(a, t, "HuggingFaceTokenizer");
  if (t.async_checkpoint) a.push_back("--async-save");
  return a;
}

std::vector<ExportFile> launch_files(const Plan& p, ExportFormat f, Framework fw);

std::vector<ExportFile> megatron_files(const Plan& p) {
  // A complete command: Megatron under torchrun, as the launch export writes it.
  return launch_files(p, ExportFormat::Torchrun, Framework::Megatron);
}

}  // namespace parplan::planner
