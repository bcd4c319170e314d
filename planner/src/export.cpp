// A plan as Megatron-LM arguments, a DeepSpeed config, or a launch line for `parplan run`.
#include "parplan/planner/export.hpp"

#include <algorithm>
#include <nlohmann/json.hpp>
#include <sstream>

#include "parplan/cost/pipeline.hpp"
#include "parplan/model/error.hpp"

namespace parplan::planner {

namespace {

std::string s(int64_t v) {
  return std::to_string(v);
}

std::string megatron(const Plan& p) {
  const Layout& l = p.layout;
  const Model& m = p.model;
  const Training& t = p.training;
  std::ostringstream o;
  auto arg = [&](const std::string& name, const std::string& value = "") {
    o << name;
    if (!value.empty()) o << " " << value;
    o << " \\\n";
  };
  arg("--tensor-model-parallel-size", s(l.tp));
  arg("--pipeline-model-parallel-size", s(l.pp));
  if (l.cp > 1) arg("--context-parallel-size", s(l.cp));
  const int64_t chunks = int64_t(l.pp) * l.virtual_stages;
  const bool even = m.layers % chunks == 0;
  if (l.pp > 1 && l.schedule == Schedule::Interleaved && l.virtual_stages > 1 && even)
    arg("--num-layers-per-virtual-pipeline-stage", s(m.layers / chunks));
  if (l.sequence_parallel) arg("--sequence-parallel");
  if (l.recompute == Recompute::Selective) {
    arg("--recompute-granularity", "selective");
  } else if (l.recompute == Recompute::Full) {
    arg("--recompute-granularity", "full");
    arg("--recompute-method", "uniform");
    arg("--recompute-num-layers", "1");
  }
  arg("--micro-batch-size", s(l.micro_batch));
  arg("--global-batch-size", s(t.global_batch));
  arg("--seq-length", s(t.seq_len));
  arg("--max-position-embeddings", s(std::max(m.max_seq_len, t.seq_len)));
  arg("--num-layers", s(m.layers));
  arg("--hidden-size", s(m.hidden));
  arg("--num-attention-heads", s(m.heads));
  if (m.kv_heads != m.heads) {
    arg("--group-query-attention");
    arg("--num-query-groups", s(m.kv_heads));
  }
  arg("--ffn-hidden-size", s(m.ffn_hidden));
  if (m.gated_mlp) arg("--swiglu");
  if (!m.tied_embeddings) arg("--untie-embeddings-and-output-weights");
  if (t.dtype == DType::BF16) arg("--bf16");
  if (t.dtype == DType::FP16) arg("--fp16");
  if (t.flash_attention) arg("--use-flash-attn");
  if (l.zero >= 1) arg("--use-distributed-optimizer");
  if (t.fp32_grad_accum) arg("--accumulate-allreduce-grads-in-fp32");
  arg("--lr", [&] {
    std::ostringstream v;
    v << t.learning_rate;
    return v.str();
  }());
  std::string text = o.str();
  // Drop the continuation after the last argument.
  if (text.size() >= 3) text.erase(text.size() - 3);
  std::string notes;
  if (l.zero >= 2)
    notes +=
        "# note: Megatron-LM's distributed optimizer shards optimizer state (ZeRO-1);"
        " this plan assumes ZeRO-" +
        s(l.zero) + ", which DeepSpeed provides\n";
  if (l.offload != Offload::None)
    notes += "# note: offload=" + std::string(to_string(l.offload)) +
             " has no Megatron-LM flag; use the DeepSpeed export\n";
  if (!even)
    notes += "# note: " + s(m.layers) + " layers do not split evenly into pp*v = " + s(chunks) +
             " chunks; set Megatron-LM's --decoder-first-pipeline-num-layers / "
             "--decoder-last-pipeline-num-layers (or move layers by hand)\n";
  if (l.schedule == Schedule::GPipe && l.pp > 1)
    notes += "# note: Megatron-LM runs 1F1B; this plan's GPipe schedule has no flag\n";
  return notes + text + "\n";
}

std::string deepspeed(const Plan& p) {
  const Layout& l = p.layout;
  const Training& t = p.training;
  const int64_t accum = cost::micro_batches(t, l);
  nlohmann::json zero = {{"stage", l.zero}, {"overlap_comm", true}, {"contiguous_gradients", true}};
  if (l.offload != Offload::None)
    zero["offload_optimizer"] = {{"device", "cpu"}, {"pin_memory", true}};
  if (l.offload == Offload::OptimizerAndParams)
    zero["offload_param"] = {{"device", "cpu"}, {"pin_memory", true}};
  nlohmann::json j = {{"train_batch_size", t.global_batch},
                      {"train_micro_batch_size_per_gpu", l.micro_batch},
                      {"gradient_accumulation_steps", accum},
                      {"zero_optimization", zero},
                      {"bf16", {{"enabled", t.dtype == DType::BF16}}},
                      {"fp16", {{"enabled", t.dtype == DType::FP16}}},
                      {"gradient_clipping", 1.0},
                      {"steps_per_print", 10},
                      {"wall_clock_breakdown", false}};
  if (l.recompute != Recompute::None)
    j["activation_checkpointing"] = {{"partition_activations", l.tp > 1},
                                     {"contiguous_memory_optimization", false},
                                     {"cpu_checkpointing", false},
                                     {"number_checkpoints", nullptr},
                                     {"synchronize_checkpoint_boundary", false}};
  // Megatron-DeepSpeed reads the model-parallel degrees from these keys' command-line twins.
  j["parplan"] = {{"tensor_parallel", l.tp},
                  {"pipeline_parallel", l.pp},
                  {"context_parallel", l.cp},
                  {"data_parallel", l.dp},
                  {"recompute", to_string(l.recompute)},
                  {"sequence_parallel", l.sequence_parallel}};
  return j.dump(2) + "\n";
}

struct Shape {
  int64_t gpus, per_node, nodes;
};
Shape shape(const Plan& p) {
  Shape sh;
  sh.gpus = p.layout.gpus();
  sh.per_node = std::min<int64_t>(p.cluster.gpus_per_node, sh.gpus);
  sh.nodes = (sh.gpus + sh.per_node - 1) / sh.per_node;
  return sh;
}

}  // namespace

bool parse_export_format(const std::string& f, ExportFormat& out) {
  if (f == "megatron" || f == "megatron-lm")
    out = ExportFormat::Megatron;
  else if (f == "deepspeed" || f == "ds")
    out = ExportFormat::DeepSpeed;
  else if (f == "torchrun")
    out = ExportFormat::Torchrun;
  else if (f == "mpiexec" || f == "mpirun")
    out = ExportFormat::Mpiexec;
  else if (f == "srun" || f == "slurm")
    out = ExportFormat::Srun;
  else
    return false;
  return true;
}

std::string export_plan(const Plan& p, ExportFormat f) {
  const Shape sh = shape(p);
  const std::string run = "parplan run --plan plan.json";
  switch (f) {
    case ExportFormat::Megatron:
      return megatron(p);
    case ExportFormat::DeepSpeed:
      return deepspeed(p);
    case ExportFormat::Torchrun:
      return "# on each of the " + s(sh.nodes) +
             " nodes (MASTER_ADDR: the first node's address)\n"
             "torchrun --nnodes " +
             s(sh.nodes) + " --nproc-per-node " + s(sh.per_node) +
             " --rdzv-backend c10d --rdzv-endpoint $MASTER_ADDR:29500 " + run + "\n";
    case ExportFormat::Mpiexec: {
      // Polaris / PALS: one rank per GPU, CPU cores split evenly between a node's ranks.
      const int64_t depth = std::max<int64_t>(1, 64 / sh.per_node);
      return "# " + s(sh.nodes) + " nodes x " + s(sh.per_node) +
             " ranks (PBS: select=" + s(sh.nodes) +
             ")\n"
             "mpiexec -n " +
             s(sh.gpus) + " --ppn " + s(sh.per_node) + " --depth " + s(depth) +
             " --cpu-bind depth " + run + "\n";
    }
    case ExportFormat::Srun:
      return "# inside an allocation of " + s(sh.nodes) + " nodes (sbatch --nodes " + s(sh.nodes) +
             ")\nsrun --nodes " + s(sh.nodes) + " --ntasks-per-node " + s(sh.per_node) +
             " --gpus-per-node " + s(sh.per_node) + " --cpus-per-task " +
             s(std::max<int64_t>(1, 64 / sh.per_node)) + " " + run + "\n";
  }
  throw Error("unknown export format; use megatron, deepspeed, torchrun, mpiexec or srun");
}

}  // namespace parplan::planner
