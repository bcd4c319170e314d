// A plan as a DeepSpeed config (DeepSpeed keys only; the plan's own metadata goes to a sidecar
// file) and as an argonne-lcf/Megatron-DeepSpeed command line with its ds_config.json. Keys and
// flags are checked against tests/data/upstream/deepspeed-config-keys.txt and
// megatron-deepspeed-flags.txt.
#include <nlohmann/json.hpp>

#include "export_util.hpp"
#include "parplan/cost/pipeline.hpp"
#include "parplan/planner/assumptions.hpp"
#include "parplan/planner/export.hpp"

namespace parplan::planner {

using detail::num;
using detail::refuse;
using detail::s;

namespace {

// DeepSpeed's partitioned activation checkpointing (activation_checkpointing.partition_activations):
// each TP rank keeps 1/tp of a checkpointed layer input and all-gathers it for the recomputation.
bool partitions_activations(const Layout& l) { return l.tp > 1; }

// FP8 in Megatron-DeepSpeed (argonne-lcf ffa3456, megatron/model/transformer.py): Transformer
// Engine's TransformerLayer (--transformer-impl transformer_engine) under DelayedScaling, built
// without GQA, RMSNorm, SwiGLU, rotary embeddings, experts or Ulysses (those are the local layer's).
void check_megatron_ds_fp8(const Plan& p, const std::string& target) {
  const Model& m = p.model;
  const Training& t = p.training;
  if (t.fp8_recipe != Fp8Recipe::Delayed)
    refuse(target, std::string("FP8 recipe ") + to_string(t.fp8_recipe) +
                       ": Megatron-DeepSpeed's --fp8-hybrid / --fp8-e4m3 run delayed scaling only",
           "re-plan with train.fp8_recipe delayed, or export to megatron (--fp8-recipe)");
  if (m.kv_heads != m.heads || m.norm == Norm::RMSNorm || m.gated_mlp || m.is_moe() ||
      m.position == Position::Rotary || p.layout.cp > 1)
    refuse(target, "FP8 needs Megatron-DeepSpeed's Transformer Engine layer, which it builds "
                   "without GQA, RMSNorm, SwiGLU, rotary embeddings, experts or Ulysses",
           "export to megatron (--fp8-format / --fp8-recipe), or re-plan with train.dtype bf16");
}

// What neither DeepSpeed's engine nor Megatron-DeepSpeed can run; `target` names the export.
void check_deepspeed(const Plan& p, const std::string& target, bool megatron_ds) {
  const Layout& l = p.layout;
  const Training& t = p.training;
  if (l.pp > 1 && l.zero >= 2)
    refuse(target, "ZeRO-" + s(l.zero) + " with pipeline parallelism (pp " + s(l.pp) +
                       "): DeepSpeed's pipeline engine only runs ZeRO-0/1 (deepspeed/runtime/pipe/"
                       "engine.py: \"ZeRO-2 and ZeRO-3 are incompatible with pipeline parallelism\")",
           "re-plan with --fix zero=1 (or pp=1), or export to megatron, whose distributed "
           "optimizer and FSDP run with pipeline parallelism");
  if (l.pp > 1 && l.schedule != Schedule::OneFOneB)
    refuse(target, std::string("DeepSpeed's pipeline engine runs 1F1B only; the plan uses ") +
                       to_string(l.schedule),
           "re-plan with --fix schedule=1f1b, or export to megatron");
  if (l.pp > 1 && (l.first_stage_layers > 0 || l.last_stage_layers > 0))
    refuse(target, "explicit first/last stage layer counts: DeepSpeed's PipelineModule partitions "
                   "layers itself",
           "clear layout.first_stage_layers / last_stage_layers, or export to megatron");
  if (l.cp > 1 && l.cp_kind != CpKind::Ulysses)
    refuse(target, std::string("context parallelism of kind ") + to_string(l.cp_kind) +
                       ": DeepSpeed has Ulysses (all-to-all over heads) only",
           "re-plan with layout cp_kind ulysses, or export to megatron (ring attention)");
  if (t.fp8() && !megatron_ds)
    refuse(target, "FP8 training has no DeepSpeed config key", "export to megatron or torchtitan");
  if (t.fp8() && megatron_ds) check_megatron_ds_fp8(p, target);
  if (l.offload != Offload::None && t.optimizer == Optimizer::Sgd)
    refuse(target, "optimizer offload with SGD: DeepSpeed's host optimizers are Adam, Adagrad and Lion",
           "re-plan with train.optimizer adam, or --fix offload=none");
  // HSDP: DeepSpeed's MiCS (mics_shard_size) needs the model built under deepspeed.zero.MiCS_Init;
  // Megatron-DeepSpeed's pretrain_gpt.py builds it under deepspeed.zero.Init (only ALCF's
  // pretrain_gpt_alcf.py switches on --use-mics).
  if (megatron_ds && l.zero == 3 && l.shard_size() != l.dp)
    refuse(target, "HSDP (layout.shard_group " + s(l.shard_size()) + " of dp " + s(l.dp) +
                       "): pretrain_gpt.py builds the model under deepspeed.zero.Init, not MiCS_Init",
           "export to deepspeed (mics_shard_size) or torchtitan, or re-plan with shard_group 0");
  // Megatron-DeepSpeed's selective recomputation is Korthikanti's attention core only: it has no
  // --recompute-modules (tests/data/upstream/megatron-deepspeed-flags.txt).
  if (megatron_ds && l.recompute == Recompute::Selective && l.recompute_modules != 0)
    refuse(target, "layout.recompute_modules [" + recompute_modules_list(l.recompute_modules) +
                       "]: Megatron-DeepSpeed recomputes the attention core only (no "
                       "--recompute-modules)",
           "export to megatron (Megatron-Core --recompute-modules), or re-plan with recompute "
           "selective (no recompute_modules) or full");
  if (!megatron_ds && l.recompute == Recompute::Selective)
    refuse(target, "selective recomputation: DeepSpeed's activation checkpointing recomputes whole "
                   "layers (it would price as full recomputation)",
           "re-plan with --fix recompute=full or recompute=none, or export to megatron-deepspeed "
           "(--recompute-granularity selective)");
}

}  // namespace

std::string deepspeed_config(const Plan& p, bool megatron_ds) {
  const Layout& l = p.layout;
  const Training& t = p.training;
  const Overlap o = resolved_overlap(t, l);
  const int64_t accum = cost::micro_batches(t, l);
  nlohmann::json zero = {{"stage", l.zero},
                         {"overlap_comm", o.grad_reduce},
                         {"contiguous_gradients", true},
                         {"reduce_scatter", true}};
  if (l.offload != Offload::None) {
    nlohmann::json dev = {{"device", l.offload_device == OffloadDevice::Nvme ? "nvme" : "cpu"},
                          {"pin_memory", true}};
    if (l.offload_device == OffloadDevice::Nvme) dev["nvme_path"] = "<NVME_PATH: a local NVMe mount>";
    zero["offload_optimizer"] = dev;
    if (l.offload == Offload::OptimizerAndParams) zero["offload_param"] = dev;
  }
  // HSDP as MiCS (Zhang et al. 2022; deepspeed/runtime/zero/mics.py): all ZeRO-3 states sharded
  // inside groups of mics_shard_size ranks, replicated across them. ZeRO++'s hpZ
  // (zero_hpz_partition_size) is not HSDP: it only adds a secondary copy of the parameters per
  // group and keeps gradients and optimizer states sharded over the whole DP group.
  if (l.zero == 3 && l.shard_size() != l.dp) zero["mics_shard_size"] = l.shard_size();
  // DeepSpeed checks train_batch_size = micro x accumulation x its data-parallel size; with
  // Ulysses that size excludes the sequence-parallel ranks (from Megatron-DeepSpeed's mpu, or
  // from sequence_parallel_size when no mpu is given), so it equals the plan's dp.
  nlohmann::json j = {{"train_batch_size", t.global_batch},
                      {"train_micro_batch_size_per_gpu", l.micro_batch},
                      {"gradient_accumulation_steps", accum},
                      {"zero_optimization", zero},
                      {"bf16", {{"enabled", t.dtype == DType::BF16 || t.fp8()}}},  // FP8: the rest in BF16
                      {"fp16", {{"enabled", t.dtype == DType::FP16}}},
                      {"gradient_clipping", 1.0},
                      {"steps_per_print", 10},
                      {"wall_clock_breakdown", false}};
  if (t.fp32_grad_accum && t.mixed_precision()) j["data_types"] = {{"grad_accum_dtype", "fp32"}};
  if (l.cp > 1 && !megatron_ds) j["sequence_parallel_size"] = l.cp;
  // The optimizer priced, built by the engine from this section (deepspeed/runtime/engine.py
  // _configure_basic_optimizer, edaa722): AdamW as FusedAdam, or with offload_optimizer as
  // DeepSpeedCPUAdam (a client's torch optimizer is refused there: ZeRORuntimeException); ZeRO
  // without any optimizer stops at engine start ("zero stage N requires an optimizer").
  // Megatron-DeepSpeed builds its own (--optimizer; DeepSpeedCPUAdam under --cpu-optimizer).
  if (!megatron_ds) {
    if (t.optimizer == Optimizer::Sgd)
      j["optimizer"] = {{"type", "SGD"}, {"params", {{"lr", t.learning_rate}, {"momentum", 0.9}}}};
    else
      j["optimizer"] = {{"type", "AdamW"}, {"params", {{"lr", t.learning_rate}, {"betas", {0.9, 0.95}},
                                                        {"weight_decay", 0.1}}}};
  }
  if (l.recompute == Recompute::Full || (megatron_ds && l.recompute != Recompute::None))
    j["activation_checkpointing"] = {{"partition_activations", partitions_activations(l)},
                                     {"contiguous_memory_optimization", false},
                                     {"cpu_checkpointing", false},
                                     {"number_checkpoints", nullptr},
                                     {"synchronize_checkpoint_boundary", false}};
  return j.dump(2) + "\n";
}

std::vector<ExportFile> deepspeed_files(const Plan& p) {
  check_deepspeed(p, "DeepSpeed", false);
  const Layout& l = p.layout;
  const Overlap o = resolved_overlap(p.training, l);
  // The sidecar: what the training script must set up itself (DeepSpeed's config has no keys for
  // model-parallel degrees), and what the plan was priced with.
  nlohmann::json side = {
      {"what", "parplan plan metadata for ds_config.json; DeepSpeed does not read this file"},
      {"layout", to_json(l)},
      {"model", p.model.name},
      {"priced_for", p.training.framework_name()},
      {"gpus", l.gpus()},
      {"prediction", p.prediction},
      {"assumed", nlohmann::json::object()},
      {"script_must", nlohmann::json::array()}};
  for (const auto& a : prediction_assumptions(p.model, p.training, l)) side["assumed"][a.name] = a.value;
  auto must = [&](const std::string& m) { side["script_must"].push_back(m); };
  // With a PipelineModule deepspeed.initialize takes no mpu ("mpu must be None with pipeline
  // parallelism", deepspeed/__init__.py at edaa722): the module's topology carries TP and DP.
  if (l.tp > 1 && l.pp == 1)
    must("split the model " + s(l.tp) + "-way with tensor parallelism and pass that mpu to "
         "deepspeed.initialize (e.g. Megatron's); DeepSpeed then counts data parallelism as " +
         s(l.dp));
  if (l.tp > 1 && l.pp > 1)
    must("split the model " + s(l.tp) + "-way with tensor parallelism and give the PipelineModule "
         "topology=PipeModelDataParallelTopology(num_pp=" + s(l.pp) + ", num_mp=" + s(l.tp) +
         ", num_dp=" + s(l.dp) + "); pass no mpu to deepspeed.initialize (with a PipelineModule it "
         "refuses one: the module's grid is the mpu); DeepSpeed then counts data parallelism as " + s(l.dp));
  if (l.pp > 1)
    must("build a deepspeed.pipe.PipelineModule with num_stages=" + s(l.pp) +
         " and partition_method='type:transformer' (1F1B; ceil(layers/pp) layers on the loaded stages)");
  if (l.cp > 1)
    must("wrap attention in deepspeed.sequence.layer.DistributedAttention over a sequence-parallel "
         "group of " + s(l.cp) + " ranks (Ulysses)");
  if (l.recompute == Recompute::Full && l.pp == 1)
    must("call deepspeed.checkpointing.configure(mpu, deepspeed_config=...) and checkpoint every "
         "transformer layer with deepspeed.checkpointing.checkpoint");
  // The PipelineModule checkpoints for itself; its reentrant checkpoint of the embedding (integer
  // input) leaves the embedding without gradients unless checkpointable_layers excludes it, and
  // DeepSpeed's own PipelineParallelGrid lacks get_tensor_model_parallel_group, which
  // checkpointing.configure reads (deepspeed/runtime/pipe/module.py, activation_checkpointing/
  // checkpointing.py at edaa722; found by scripts/check_exports.sh).
  if (l.recompute == Recompute::Full && l.pp > 1)
    must("checkpoint every transformer layer through the PipelineModule: activation_checkpoint_interval=1 "
         "and checkpointable_layers=[<the transformer layer class name>] (a checkpointed embedding gets no "
         "gradients)" +
         std::string(l.tp > 1 ? "; call deepspeed.checkpointing.configure(mpu, deepspeed_config=...) with "
                                "Megatron's mpu (DeepSpeed's pipeline grid lacks get_tensor_model_parallel_group)"
                              : ""));
  if (l.sequence_parallel) must("use Megatron-style sequence parallelism in the TP layers");
  // As priced (cost/src/compute.cpp): each linear in `tiles` slices along the dimension TP splits
  // (deepspeed/runtime/zero/tiling.py TiledLinear(in_features, out_features, in_splits, out_splits)).
  if (l.tiles > 1)
    must("wrap each transformer linear in deepspeed.zero.TiledLinear with " + s(l.tiles) + " tiles: "
         "out_splits=" + s(l.tiles) + " for QKV and FC1, in_splits=" + s(l.tiles) +
         " for the attention projection and FC2");
  if (l.zero == 3 && l.shard_size() != l.dp)
    must("build the model under deepspeed.zero.MiCS_Init (not zero.Init): MiCS shards the ZeRO-3 "
         "states in groups of " + s(l.shard_size()) + " ranks (mics_shard_size) and replicates "
         "across the " + s(l.dp / l.shard_size()) + " groups (HSDP)");
  if (l.offload != Offload::None)
    must("call deepspeed.initialize without an optimizer: ds_config.json's AdamW is built as "
         "deepspeed.ops.adam.DeepSpeedCPUAdam for offload_optimizer (a torch optimizer is refused "
         "at engine start)");
  else
    must("call deepspeed.initialize without an optimizer: the engine builds ds_config.json's (" +
         std::string(p.training.optimizer == Optimizer::Sgd ? "SGD as torch.optim.SGD" : "AdamW as FusedAdam") + ")");
  if (o.tp_comm && l.tp > 1) must("overlap TP communication with compute (the prediction assumed it)");
  return {{"ds_config.json", deepspeed_config(p, false)},
          {"ds_config.parplan.json", side.dump(2) + "\n"}};
}

std::vector<std::string> megatron_deepspeed_args(const Plan& p, const std::string& ds_config) {
  const char* target = "Megatron-DeepSpeed";
  check_deepspeed(p, target, true);
  const Model& m = p.model;
  const Layout& l = p.layout;
  const Training& t = p.training;
  std::vector<std::string> a;
  a.push_back("--tensor-model-parallel-size " + s(l.tp));
  a.push_back("--pipeline-model-parallel-size " + s(l.pp));
  if (l.pp == 1) a.push_back("--no-pipeline-parallel");  // DeepSpeed's engine (ZeRO-2/3 allowed)
  if (l.cp > 1) {
    if (l.sequence_parallel)
      refuse(target, "DeepSpeed Ulysses (--ds-sequence-parallel-size) cannot be combined with "
                     "Megatron sequence parallelism (--sequence-parallel)",
             "re-plan with --fix sp=false");
    a.push_back("--ds-sequence-parallel-size " + s(l.cp));
  }
  if (l.sequence_parallel) a.push_back("--sequence-parallel");
  a.push_back("--zero-stage " + s(l.zero));
  // Offload: Megatron-DeepSpeed's optimizer is then DeepSpeedCPUAdam (megatron/optimizer/
  // __init__.py, --cpu-optimizer); DeepSpeed refuses a GPU Adam with offload_optimizer.
  if (l.offload != Offload::None) a.push_back("--cpu-optimizer");
  // Megatron-DeepSpeed's --memory-centric-tiled-linear --tile-factor f cuts every linear into
  // square [hidden/f, hidden/f] tiles (a different count per linear: QKV 3f^2, FC1 4f^2), not the
  // plan's `tiles` slices per linear (megatron/arguments.py, argonne-lcf ffa3456).
  if (l.tiles > 1)
    refuse(target, "layout.tiles " + s(l.tiles) + ": Megatron-DeepSpeed tiles every linear into "
                       "square [hidden/f]^2 tiles (--tile-factor), not " + s(l.tiles) + " slices per linear",
           "export to deepspeed (TiledLinear in_splits/out_splits), or re-plan with --fix tiles=1");
  if (l.recompute == Recompute::Selective) a.push_back("--recompute-granularity selective");
  if (l.recompute == Recompute::Full) {
    a.push_back("--recompute-granularity full");
    a.push_back("--recompute-method uniform");
    a.push_back("--recompute-num-layers 1");
    a.push_back("--deepspeed-activation-checkpointing");
    // megatron/initialize.py passes args.partition_activations to deepspeed.checkpointing.configure,
    // which puts it over ds_config.json's partition_activations (activation_checkpointing/
    // checkpointing.py at edaa722): without the flag the config's true would be dropped.
    if (partitions_activations(l)) a.push_back("--partition-activations");
  }
  a.push_back("--num-layers " + s(m.layers));
  a.push_back("--hidden-size " + s(m.hidden));
  a.push_back("--ffn-hidden-size " + s(m.ffn_hidden));
  a.push_back("--num-attention-heads " + s(m.heads));
  if (m.kv_heads != m.heads) a.push_back("--num-key-value-heads " + s(m.kv_heads));
  if (m.head_dim_explicit > 0) a.push_back("--kv-channels " + s(m.head_dim_explicit));
  a.push_back("--seq-length " + s(t.seq_len));
  a.push_back("--max-position-embeddings " + s(std::max(m.max_seq_len, t.seq_len)));
  if (m.position == Position::Rotary) {
    if (!m.rope_scaling.empty())
      refuse(target, "rope_scaling '" + m.rope_scaling + "' has no Megatron-DeepSpeed flag",
             "export to megatron");
    a.push_back("--use-rotary-position-embeddings");
    a.push_back("--rotary-position-embeddings-theta " + num(m.rotary_base));
    a.push_back("--no-position-embedding");
  } else if (m.position == Position::None) {
    a.push_back("--no-position-embedding");
  }
  a.push_back(std::string("--normalization ") + (m.norm == Norm::RMSNorm ? "rmsnorm" : "layernorm"));
  if (!m.linear_bias && !m.qkv_bias) a.push_back("--disable-bias-linear");
  else if (m.linear_bias != m.qkv_bias)
    refuse(target, "biases on only some projections have no Megatron-DeepSpeed flag", "export to megatron");
  if (m.gated_mlp) {
    if (!m.activation.empty() && m.activation != "silu" && m.activation != "swish")
      refuse(target, "gated MLP with activation '" + m.activation + "'", "export to torchtitan");
    a.push_back("--swiglu");
  }
  if (m.mla.enabled() || m.qk_norm || m.sliding_window > 0 || m.mtp_layers > 0 || m.parallel_residual)
    refuse(target, "the model uses MLA, QK-norm, sliding windows, MTP or a parallel residual, which "
                   "Megatron-DeepSpeed's GPT does not build",
           "export to megatron");
  if (!m.tied_embeddings) a.push_back("--untie-embeddings-and-output-weights");
  int64_t d = 128;  // as for Megatron-LM: keep the vocabulary as priced
  while (d > 1 && m.vocab % (d * l.tp) != 0) d /= 2;
  a.push_back("--make-vocab-size-divisible-by " + s(d));
  if (m.is_moe()) {
    const MoE& e = m.moe;
    if (e.first_dense_layers > 0 || e.shared_experts > 0 ||
        (e.expert_ffn_hidden > 0 && e.expert_ffn_hidden != m.ffn_hidden))
      refuse(target, "leading dense layers, shared experts or experts narrower than the dense MLP",
             "export to megatron");
    a.push_back("--num-experts " + s(e.experts));
    a.push_back("--topk " + s(e.experts_per_token));
    a.push_back("--expert-interval " + s(std::max<int64_t>(1, e.layer_freq)));
    a.push_back("--moe-expert-parallel-size " + s(l.ep));
    if (e.capacity_factor > 0) a.push_back("--moe-train-capacity-factor " + num(e.capacity_factor));
    else a.push_back("--disable-moe-token-dropping");
  }
  if (t.dtype == DType::BF16 || t.fp8()) a.push_back("--bf16");
  if (t.dtype == DType::FP16) a.push_back("--fp16");
  if (t.fp8()) {  // checked by check_megatron_ds_fp8: delayed scaling on TE's layer
    a.push_back("--transformer-impl transformer_engine");
    a.push_back(t.fp8_format == "e4m3" ? "--fp8-e4m3" : "--fp8-hybrid");
  }
  if (t.flash_attention && !t.fp8()) a.push_back("--use-flash-attn-v2");
  a.push_back("--micro-batch-size " + s(l.micro_batch));
  a.push_back("--global-batch-size " + s(t.global_batch));
  a.push_back(std::string("--optimizer ") + (t.optimizer == Optimizer::Sgd ? "sgd" : "adam"));
  a.push_back("--lr " + num(t.learning_rate));
  detail::append_data_args(a, t, "HFTokenizer");
  a.push_back("--deepspeed");
  a.push_back("--deepspeed_config " + ds_config);
  return a;
}

std::vector<ExportFile> launch_files(const Plan& p, ExportFormat f, Framework fw);

std::vector<ExportFile> megatron_deepspeed_files(const Plan& p) {
  return launch_files(p, ExportFormat::Torchrun, Framework::MegatronDeepSpeed);
}

}  // namespace parplan::planner
