// A plan as torchtitan runs it: `--section.key value` overrides of the current Trainer.Config
// (keys checked against tests/data/upstream/torchtitan-cli-keys.txt, pytorch/torchtitan b5bcd76)
// plus a config function for what its frozen command line does not take (activation
// checkpointing mode, Float8); and, for releases before the config refactor (<= v0.2.2), the
// equivalent job TOML (keys: torchtitan-toml-keys.txt, 238fa99).
#include <algorithm>
#include <cmath>

#include "export_util.hpp"
#include "parplan/cost/fp8.hpp"
#include "parplan/cost/pipeline.hpp"
#include "parplan/cost/sharding.hpp"
#include "parplan/planner/assumptions.hpp"
#include "parplan/planner/export.hpp"

namespace parplan::planner {

using detail::num;
using detail::refuse;
using detail::s;

namespace {

const char* kTarget = "torchtitan";

// torchtitan builds the architecture from its own model registry.
struct TitanModel {
  std::string module, config, flavor;  // torchtitan.models.<module>.config_registry.<config>
};
TitanModel titan_model(const Model& m) {
  std::string n = m.name;
  std::transform(n.begin(), n.end(), n.begin(), [](unsigned char c) { return char(std::tolower(c)); });
  auto has = [&](const char* x) { return n.find(x) != std::string::npos; };
  const bool llama3 = has("llama3") || has("llama-3");
  if (llama3 && has("405b")) return {"llama3", "llama3_405b", "405B"};
  if (llama3 && has("70b")) return {"llama3", "llama3_70b", "70B"};
  if (llama3 && has("8b")) return {"llama3", "llama3_8b", "8B"};
  if ((has("deepseek-v3") || has("deepseek_v3")) && !has("lite")) return {"deepseek_v3", "deepseek_v3_671b", "671B"};
  // A Hugging Face config names only its model_type: recognise the registry's flavors by shape
  // (torchtitan/models/{llama3,qwen3}/__init__.py at b5bcd76).
  const auto shape = [&](int64_t h, int64_t l) { return m.hidden == h && m.layers == l; };
  if (m.model_type == "llama" && m.vocab == 128256) {
    if (shape(4096, 32)) return {"llama3", "llama3_8b", "8B"};
    if (shape(8192, 80)) return {"llama3", "llama3_70b", "70B"};
    if (shape(16384, 126)) return {"llama3", "llama3_405b", "405B"};
  }
  if (m.model_type == "qwen3_moe" && shape(2048, 48) && m.moe.experts == 128)
    return {"qwen3", "qwen3_30b_a3b", "30B-A3B"};
  if (m.model_type == "qwen3") {
    if (shape(5120, 64)) return {"qwen3", "qwen3_32b", "32B"};
    if (shape(5120, 40)) return {"qwen3", "qwen3_14b", "14B"};
    if (shape(4096, 36)) return {"qwen3", "qwen3_14b", "8B"};
  }
  if (has("qwen3") && has("32b")) return {"qwen3", "qwen3_32b", "32B"};
  if (has("qwen3") && has("30b-a3b")) return {"qwen3", "qwen3_30b_a3b", "30B-A3B"};
  // Qwen3 14B / 8B: qwen3_14b()'s training setup with the flavor's model (same vocabulary); the
  // recipe rebuilds the model from the registry by flavor.
  if (has("qwen3") && has("14b")) return {"qwen3", "qwen3_14b", "14B"};
  if (has("qwen3") && has("8b")) return {"qwen3", "qwen3_14b", "8B"};
  if (has("gpt-oss") && has("120b")) return {"gpt_oss", "gpt_oss_120b", "120b"};
  if (has("gpt-oss") && has("20b")) return {"gpt_oss", "gpt_oss_20b", "20b"};
  return {};
}

// torchtitan's FP8 is torchao's: dynamic scaling from the current tensor (Float8: tensorwise in
// the TOML releases, 238fa99; rowwise at b5bcd76) or MXFP8; no delayed or 1x128 blockwise scaling.
void check_fp8(const Training& t, bool toml) {
  if (!t.fp8()) return;
  if (t.fp8_recipe == Fp8Recipe::Delayed)
    refuse(kTarget, "FP8 delayed scaling (an amax history, Transformer Engine's): torchtitan's "
                    "Float8 scales from the current tensor",
           "re-plan with train.fp8_recipe current, or export to megatron (--fp8-recipe delayed)");
  if (t.fp8_recipe == Fp8Recipe::Nvfp4)
    refuse(kTarget, "NVFP4 training has no torchtitan converter (quantize.linear offers float8 "
                    "and mx, whose recipes are MXFP8)",
           "re-plan with train.fp8_recipe mxfp8, or export to megatron (--fp4-format e2m1 "
           "--fp4-recipe nvfp4)");
  if (t.fp8_recipe == Fp8Recipe::Blockwise)
    refuse(kTarget, "FP8 blockwise (1x128) scaling has no torchtitan converter",
           "re-plan with train.fp8_recipe current or mxfp8, or export to megatron (--fp8-recipe blockwise)");
  if (cost::fp8_param_gather(t) && (!toml || t.fp8_recipe == Fp8Recipe::Mxfp8))
    refuse(kTarget, std::string("FP8 parameter all-gather: torchtitan's ") +
                        (toml ? "MXFP8" : "rowwise Float8 and MXFP8") + " converters gather BF16 weights",
           toml ? "set train.fp8_param_gather off"
                : "set train.fp8_param_gather off, or export to torchtitan-toml (tensorwise Float8, "
                  "enable_fsdp_float8_all_gather)");
}

struct Titan {
  int64_t replicate = 1, shard = 1;
  std::string reshard;     // fsdp_reshard_after_forward
  std::string schedule;    // pipeline_parallel_schedule
  int64_t layers_per_stage = 0, first_less = 0, last_less = 0;
  int64_t pp_microbatches = 1;
};

Titan translate(const Plan& p, bool toml) {
  const Layout& l = p.layout;
  const Model& m = p.model;
  Titan x;
  // Data parallelism: FSDP2 shards parameters, gradients and optimizer state (ZeRO-3); without
  // resharding after forward it keeps the gathered parameters through backward (ZeRO-2's
  // memory and traffic). There is no optimizer-only sharding (ZeRO-1).
  if (l.zero == 1)
    refuse(kTarget, "ZeRO-1 (optimizer-state sharding only): torchtitan's FSDP2 shards gradients "
                    "and parameters too",
           "re-plan with --fix zero=2 or zero=3 (FSDP2) or zero=0 (DDP), or export to megatron");
  if (l.zero == 0) {
    x.replicate = l.dp;
  } else {
    x.shard = l.shard_size();
    x.replicate = l.dp / l.shard_size();
    x.reshard = l.zero == 2 ? "never" : "always";
  }
  if (l.cp > 1 && l.cp_kind != CpKind::Ring)
    refuse(kTarget, std::string("context parallelism of kind ") + to_string(l.cp_kind) +
                        ": torchtitan's context parallelism is ring attention",
           "re-plan with layout cp_kind ring, or export to megatron");
  if (l.offload == Offload::Optimizer)
    refuse(kTarget, "optimizer-only offload: torchtitan's FSDP CPU offload moves parameters, "
                    "gradients and optimizer state together",
           "re-plan with --fix offload=optimizer+params (and zero=3), or export to deepspeed");
  if (l.offload == Offload::OptimizerAndParams && l.zero != 3)
    refuse(kTarget, "CPU offload needs FSDP (ZeRO-3)", "re-plan with --fix zero=3");
  if (l.offload_device == OffloadDevice::Nvme && l.offload != Offload::None)
    refuse(kTarget, "NVMe offload", "export to deepspeed");
  if (l.tiles > 1) refuse(kTarget, "tiled linear layers (layout.tiles) are DeepSpeed's", "export to deepspeed");
  check_fp8(p.training, toml);
  if (l.recompute == Recompute::Selective && l.recompute_modules != 0)
    refuse(kTarget, "layout.recompute_modules [" + recompute_modules_list(l.recompute_modules) +
                        "] is Megatron-Core's per-module recomputation; torchtitan's selective "
                        "activation checkpointing is per op (every second matmul) or per layer",
           "export to megatron (--recompute-modules), or re-plan with recompute selective "
           "(no recompute_modules) or full");
  // The model is torchtitan's own (a registry flavor): a model it has no registry for would not
  // be built as priced (GPT-3's LayerNorm, learned positions and GELU, Mixtral's experts, ...).
  if (titan_model(m).module.empty())
    refuse(kTarget, "torchtitan has no registered model matching " + m.name +
                        " (its registries at b5bcd76: llama3, deepseek_v3, qwen3, gpt_oss; "
                        "torchtitan/models/*/config_registry.py)",
           "export to megatron");
  if (l.pp > 1) {
    if (l.schedule == Schedule::ZbH1 || l.schedule == Schedule::DualPipe)
      refuse(kTarget, std::string("the ") + to_string(l.schedule) +
                          " schedule: torch.distributed.pipelining runs GPipe, 1F1B, "
                          "Interleaved1F1B, ZBVZeroBubble and DualPipeV",
             "re-plan with --fix schedule=zb-v (or dualpipev, 1f1b)");
    // ZB-V and DualPipeV: two stages per rank (torch.distributed.pipelining ScheduleZBVZeroBubble,
    // ScheduleDualPipeV, by name in --parallelism.pipeline_parallel_schedule).
    const bool v_shape = l.schedule == Schedule::ZbV || l.schedule == Schedule::DualPipeV;
    const int64_t v = v_shape ? 2
                      : l.schedule == Schedule::Interleaved ? std::max(1, l.virtual_stages)
                                                            : 1;
    x.schedule = l.schedule == Schedule::GPipe       ? "GPipe"
                 : l.schedule == Schedule::ZbV       ? "ZBVZeroBubble"
                 : l.schedule == Schedule::DualPipeV ? "DualPipeV"
                 : v > 1                             ? "Interleaved1F1B"
                                                     : "1F1B";
    // torchtitan splits layers + first_less + last_less evenly over pp * v stages, the first and
    // last stage giving up that many layers (to the embedding and the output layer).
    const int64_t chunks = l.pp * v;
    int64_t c = (m.layers + chunks - 1) / chunks;
    int64_t deficit = c * chunks - m.layers;
    if (l.first_stage_layers > 0 || l.last_stage_layers > 0) {
      if (v > 1)
        refuse(kTarget, "explicit first/last stage layers with virtual stages",
               "clear layout.first_stage_layers / last_stage_layers, or export to megatron");
      const auto stage = cost::stage_layer_split(m, l);
      c = l.pp > 2 ? stage[1] : std::max(stage.front(), stage.back());
      x.first_less = c - stage.front();
      x.last_less = c - stage.back();
    } else {
      x.first_less = (deficit + 1) / 2;
      x.last_less = deficit / 2;
    }
    if (x.first_less < 0 || x.last_less < 0 || x.first_less >= c || x.last_less >= c)
      refuse(kTarget, "the priced split of " + s(m.layers) + " layers over " + s(chunks) +
                          " stages cannot be written as torchtitan's first/last_stage_less_layers",
             "re-plan with pp*v dividing the layers, or export to megatron (--pipeline-model-parallel-layout)");
    x.layers_per_stage = c;
    x.pp_microbatches = cost::micro_batches(p.training, l);
  }
  return x;
}

std::string recipe(const Plan& p) {
  const TitanModel tm = titan_model(p.model);
  const Layout& l = p.layout;
  std::string r =
      "# parplan_recipe.py: what torchtitan's frozen command line does not take (the\n"
      "# activation-checkpointing mode, Float8), as a config function. Run with\n"
      "#   PYTHONPATH=. ... -m torchtitan.train --module parplan_recipe --config parplan_plan\n"
      "import importlib\nimport os\n\n";
  r += "BASE_MODULE = \"" + (tm.module.empty() ? "" : "torchtitan.models." + tm.module + ".config_registry") + "\"\n";
  r += "BASE_CONFIG = \"" + tm.config + "\"\n";
  r += "FLAVOR = \"" + tm.flavor + "\"\n\n\n";
  r += "def parplan_plan():\n";
  r += "    if not BASE_MODULE:\n"
       "        raise SystemExit(\"parplan: torchtitan has no registered model matching " + p.model.name +
       "; set BASE_MODULE, BASE_CONFIG and FLAVOR in parplan_recipe.py to a torchtitan config that \"\n"
       "                         \"builds it (torchtitan/models/*/config_registry.py)\")\n";
  r += "    config = getattr(importlib.import_module(BASE_MODULE), BASE_CONFIG)()\n";
  switch (l.recompute) {
    case Recompute::None: r += "    config.activation_checkpoint = None\n"; break;
    case Recompute::Selective:
      r += "    from torchtitan.distributed.activation_checkpoint import SelectiveAC\n"
           "    config.activation_checkpoint = SelectiveAC.Config()\n";
      break;
    case Recompute::Full:
      r += "    from torchtitan.distributed.activation_checkpoint import FullAC\n"
           "    config.activation_checkpoint = FullAC.Config()\n";
      break;
  }
  // The model as priced, pinned rather than inherited from the base config (llama3_405b() turns
  // on Float8 converters, torch.compile and async TP): the registry's model with exactly the
  // converters priced, none without FP8; MTP modules as the plan has them (deepseek_v3).
  std::string conv = "[]";
  if (p.training.fp8()) {
    // The layers' linears in FP8, the output layer (lm_head at b5bcd76) in BF16, as priced.
    if (p.training.fp8_recipe == Fp8Recipe::Mxfp8)
      r += "    from torchtitan.components.quantization import MXFP8LinearConverter\n"
           "    converters = [MXFP8LinearConverter.Config(fqns=[\"layers.\"])]  # not lm_head\n";
    else  // current scaling: torchao's dynamic rowwise recipe (per-row scales)
      r += "    from torchtitan.components.quantization import Float8LinearConverter\n"
           "    converters = [Float8LinearConverter.Config(recipe_name=\"rowwise\", filter_fqns=[\"lm_head\"])]\n";
    conv = "converters";
  }
  const std::string extra = tm.module == "deepseek_v3" ? ", num_mtp_layers=" + s(p.model.mtp_layers) : "";
  r += "    registry = importlib.import_module(BASE_MODULE.rsplit(\".\", 1)[0]).model_registry\n"
       "    config.model_spec = registry(FLAVOR" + extra + ", converters=" + conv + ")\n";
  // The dataset: the first data source of the base config's dataloader, from $DATASET_PATH (the
  // launch script stops when it is unset). torchtitan's CLI has no dataset-path option for these
  // configs (GrainDataLoader with a packed HuggingFace source).
  r += "    node = config.dataloader\n"
       "    while node is not None and not hasattr(node, \"source\"):\n"
       "        node = getattr(node, \"dataset\", None)\n"
       "    if node is None or not hasattr(node.source, \"path\"):\n"
       "        raise SystemExit(\"parplan: set the dataset of \" + BASE_CONFIG + \" in parplan_recipe.py\")\n"
       "    node.source.path = os.environ[\"DATASET_PATH\"]\n";
  r += "    return config\n";
  return r;
}

void flag(std::vector<std::string>& a, const std::string& key, bool on) {
  const auto dot = key.rfind('.');
  a.push_back(on ? "--" + key : "--" + key.substr(0, dot + 1) + "no-" + key.substr(dot + 1));
}

}  // namespace

std::vector<std::string> torchtitan_args(const Plan& p) {
  const Layout& l = p.layout;
  const Training& t = p.training;
  const Titan x = translate(p, false);
  std::vector<std::string> a = {"--module parplan_recipe", "--config parplan_plan"};
  a.push_back("--parallelism.data_parallel_replicate_degree " + s(x.replicate));
  a.push_back("--parallelism.data_parallel_shard_degree " + s(x.shard));
  if (!x.reshard.empty()) a.push_back("--parallelism.fsdp_reshard_after_forward " + x.reshard);
  a.push_back("--parallelism.tensor_parallel_degree " + s(l.tp));
  if (l.tp > 1) flag(a, "parallelism.enable_sequence_parallel", l.sequence_parallel);
  a.push_back("--parallelism.context_parallel_degree " + s(l.cp));
  a.push_back("--parallelism.pipeline_parallel_degree " + s(l.pp));
  if (l.pp > 1) {
    a.push_back("--parallelism.pipeline_parallel_schedule " + x.schedule);
    a.push_back("--parallelism.pipeline_parallel_layers_per_stage " + s(x.layers_per_stage));
    a.push_back("--parallelism.pipeline_parallel_first_stage_less_layers " + s(x.first_less));
    a.push_back("--parallelism.pipeline_parallel_last_stage_less_layers " + s(x.last_less));
    a.push_back("--parallelism.num_pp_microbatches " + s(x.pp_microbatches));
  }
  if (p.model.is_moe()) {
    a.push_back("--parallelism.expert_parallel_degree " + s(l.ep));
    if (l.etp != 1 && l.etp != l.tp)
      refuse(kTarget, "expert tensor parallelism other than 1 or tp is not a torchtitan option",
             "re-plan with etp 1 or etp = tp");
  }
  // Tokens: one micro-batch per data-parallel rank is mb sequences; a step is the global batch.
  a.push_back("--training.num_tokens_per_microbatch_per_dp_rank " + s(int64_t(l.micro_batch) * t.seq_len));
  a.push_back("--training.num_tokens_per_train_step " + s(t.global_batch * t.seq_len));
  a.push_back("--training.max_context_length " + s(t.seq_len));
  a.push_back(std::string("--training.mixed_precision_param ") + (t.mixed_precision() ? "bfloat16" : "float32"));
  if (t.dtype == DType::FP16)
    refuse(kTarget, "fp16 mixed precision (torchtitan trains in bfloat16 or float32)", "use train.dtype bf16");
  if (l.offload == Offload::OptimizerAndParams) flag(a, "training.enable_cpu_offload", true);
  if (t.tokens > 0)
    a.push_back("--training.steps " + s(int64_t(std::ceil(t.tokens / double(t.global_batch * t.seq_len)))));
  else
    a.push_back("--training.steps " + detail::placeholder("TRAIN_STEPS", "the number of optimizer steps"));
  // Priced in eager mode: no CUDA graphs (on by default at b5bcd76; the trainer refuses them with
  // pipeline parallelism), torch.compile only where async TP needs it, as priced.
  flag(a, "training.disable_cuda_graphs", true);
  const Overlap o = resolved_overlap(t, l);
  const bool async_tp = l.tp > 1 && o.tp_comm;
  flag(a, "compile.enable", async_tp);
  flag(a, "compile.enable_async_tensor_parallel", async_tp);
  a.push_back("--hf_assets_path " + detail::placeholder("HF_ASSETS", "the Hugging Face assets directory of the model (tokenizer)"));
  return a;
}

std::vector<ExportFile> launch_files(const Plan& p, ExportFormat f, Framework fw);

std::vector<ExportFile> torchtitan_files(const Plan& p, bool toml) {
  if (!toml) {
    auto files = launch_files(p, ExportFormat::Torchrun, Framework::Torchtitan);
    files.front().name = "torchtitan.sh";
    if (p.layout.cp > 1 && p.layout.zero >= 2 && !cost::states_over_cp(p.training, p.layout)) {
      // torchtitan's FSDP mesh is dp_shard x cp: context-parallel ranks shard parameters too.
      auto& text = files.front().text;
      const auto at = text.find("# placeholders");
      text.insert(at == std::string::npos ? 0 : at,
                  "# NOTE: torchtitan shards with FSDP over dp_shard x cp = " +
                      s(int64_t(p.layout.shard_size()) * p.layout.cp) +
                      " ranks; parplan priced ZeRO over dp = " + s(p.layout.shard_size()) +
                      " (less memory, more gather traffic here)\n");
    }
    files.push_back({"parplan_recipe.py", recipe(p)});
    return files;
  }
  const Layout& l = p.layout;
  const Training& t = p.training;
  const Titan x = translate(p, true);
  const TitanModel tm = titan_model(p.model);
  const int64_t accum = cost::micro_batches(t, l);
  std::string o = "# torchtitan <= v0.2.2 job config (pytorch/torchtitan 238fa99): " + p.model.name +
                  " on " + s(l.gpus()) + " x " + p.cluster.gpu.name + ", " + describe(l) + "\n";
  o += "# run: NGPU=" + s(std::min<int64_t>(l.gpus(), p.cluster.gpus_per_node)) +
       " CONFIG_FILE=plan.toml ./run_train.sh (on each node)\n\n[model]\n";
  if (tm.module.empty())
    o += "# torchtitan has no registered model matching " + p.model.name + ": set name and flavor\n";
  o += "name = \"" + (tm.module.empty() ? "<TORCHTITAN_MODEL>" : tm.module) + "\"\n";
  o += "flavor = \"" + (tm.flavor.empty() ? "<FLAVOR>" : tm.flavor) + "\"\n";
  o += "hf_assets_path = \"<HF_ASSETS: the model's Hugging Face assets directory>\"\n";
  const bool mx = t.fp8() && t.fp8_recipe == Fp8Recipe::Mxfp8;
  if (t.fp8()) o += std::string("converters = [\"quantize.linear.") + (mx ? "mx" : "float8") + "\"]\n";
  o += "\n[training]\n";
  // Without PP a rank's batch is one micro-batch and torchtitan accumulates global / (local dp);
  // with PP the rank's whole batch is split into pipeline micro-batches of mb.
  o += "local_batch_size = " + s(l.pp > 1 ? int64_t(l.micro_batch) * accum : int64_t(l.micro_batch)) + "\n";
  o += "global_batch_size = " + s(t.global_batch) + "\n";
  o += "seq_len = " + s(t.seq_len) + "\n";
  o += std::string("mixed_precision_param = \"") + (t.mixed_precision() ? "bfloat16" : "float32") + "\"\n";
  if (l.offload == Offload::OptimizerAndParams) o += "enable_cpu_offload = true\n";
  o += "steps = " + (t.tokens > 0 ? s(int64_t(std::ceil(t.tokens / double(t.global_batch * t.seq_len))))
                                  : std::string("1000  # set the number of steps")) + "\n";
  o += "dataset_path = \"<DATASET_PATH>\"\n";
  o += "\n[parallelism]\n";
  o += "data_parallel_replicate_degree = " + s(x.replicate) + "\n";
  o += "data_parallel_shard_degree = " + s(x.shard) + "\n";
  if (!x.reshard.empty()) o += "fsdp_reshard_after_forward = \"" + x.reshard + "\"\n";
  o += "tensor_parallel_degree = " + s(l.tp) + "\n";
  const Overlap ov = resolved_overlap(t, l);
  if (l.tp > 1 && ov.tp_comm) o += "enable_async_tensor_parallel = true\n";
  if (l.tp > 1 && !l.sequence_parallel) o += "disable_loss_parallel = true\n";
  o += "context_parallel_degree = " + s(l.cp) + "\n";
  // Ring attention as priced: the KV shards rotate rank to rank, each step behind the previous
  // block's attention, not all-gathered up front (the "allgather" default).
  if (l.cp > 1) o += "context_parallel_rotate_method = \"alltoall\"\n";
  o += "pipeline_parallel_degree = " + s(l.pp) + "\n";
  if (l.pp > 1) {
    o += "pipeline_parallel_schedule = \"" + x.schedule + "\"\n";
    o += "pipeline_parallel_layers_per_stage = " + s(x.layers_per_stage) + "\n";
    o += "pipeline_parallel_first_stage_less_layers = " + s(x.first_less) + "\n";
    o += "pipeline_parallel_last_stage_less_layers = " + s(x.last_less) + "\n";
    o += "pipeline_parallel_microbatch_size = " + s(l.micro_batch) + "\n";
  }
  if (p.model.is_moe()) {
    o += "expert_parallel_degree = " + s(l.ep) + "\n";
    o += "expert_tensor_parallel_degree = " + s(l.etp) + "\n";
  }
  o += "\n[activation_checkpoint]\n";
  o += std::string("mode = \"") + to_string(l.recompute) + "\"\n";
  if (l.recompute == Recompute::Selective) o += "selective_ac_option = \"op\"\n";
  if (l.tp > 1 && ov.tp_comm) o += "\n[compile]\nenable = true\n";
  // The layers' linears in FP8, the output layer in BF16, as priced.
  if (mx) {
    o += "\n[quantize.linear.mx]\nrecipe_name = \"mxfp8_cublas\"\nfilter_fqns = [\"output\"]\n";
  } else if (t.fp8()) {
    o += "\n[quantize.linear.float8]\nrecipe_name = \"tensorwise\"  # current per-tensor scaling\n"
         "filter_fqns = [\"output\"]\n";
    if (cost::fp8_param_gather(t))
      o += "enable_fsdp_float8_all_gather = true\nprecompute_float8_dynamic_scale_for_fsdp = true\n";
  }
  return {{"plan.toml", o}};
}

}  // namespace parplan::planner
