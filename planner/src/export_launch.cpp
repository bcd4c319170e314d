// Launch lines (torchrun, mpiexec, a PBS job script, srun) that start the chosen framework's entry
// point with the environment it needs, and the header every exported script carries: what was
// priced, what the prediction assumed, which placeholders to fill.
#include <algorithm>

#include "export_util.hpp"
#include "parplan/planner/assumptions.hpp"
#include "parplan/planner/export.hpp"

namespace parplan::planner {

std::vector<ExportFile> deepspeed_files(const Plan& p);  // export_deepspeed.cpp

using detail::s;

namespace {

// Source commits of the upstream flag/key lists the exports follow (tests/data/upstream/).
const char* upstream(Framework f) {
  switch (f) {
    case Framework::Megatron: return "Megatron-LM pretrain_gpt.py, flags as of NVIDIA/Megatron-LM d98e8a64";
    case Framework::MegatronDeepSpeed: return "Megatron-DeepSpeed pretrain_gpt.py, flags as of argonne-lcf/Megatron-DeepSpeed ffa3456d and deepspeedai/DeepSpeed edaa7221";
    case Framework::DeepSpeed: return "DeepSpeed, keys as of deepspeedai/DeepSpeed edaa7221";
    case Framework::Torchtitan: return "torchtitan, options as of pytorch/torchtitan b5bcd76c";
    case Framework::Parplan: return "parplan run, parplan's own trainer";
  }
  return "";
}

std::string header(const Plan& p, Framework f) {
  std::string h = "#!/bin/bash\n# " + std::string(upstream(f)) + "\n# " +
                  p.model.name + " on " + s(p.layout.gpus()) + " x " + p.cluster.gpu.name + ", " +
                  describe(p.layout) + "\n";
  if (p.prediction.contains("step_time_s"))
    h += "# priced by parplan (computed): step " + detail::num(p.prediction["step_time_s"].get<double>()) +
         " s\n";
  h += "# the prediction assumed:";
  for (const auto& a : prediction_assumptions(p.model, p.training, p.layout))
    h += " " + a.name + "=" + a.value + ";";
  h += "\n";
  if (f != Framework::Parplan && f != priced_framework(p))
    h += "# NOTE: the plan was priced for " + p.training.framework_name() + "; " + to_string(f) +
         " overlaps and shards differently (examples/frameworks/): re-price with train.framework "
         "set to it\n";
  if (f != Framework::Parplan)
    h += "# placeholders: \"${NAME:?...}\" stops the script naming each value to set\n";
  return h;
}

std::string join_args(const std::vector<std::string>& args, const std::string& indent) {
  std::string o;
  for (const auto& a : args) o += " \\\n" + indent + a;
  return o;
}

}  // namespace

EntryPoint entry_point(const Plan& p, Framework f) {
  EntryPoint e;
  const Layout& l = p.layout;
  switch (f) {
    case Framework::Megatron:
      e.program = "pretrain_gpt.py";
      e.args = megatron_args(p);
      // Megatron orders TP/CP communication kernels before compute with one hardware queue
      // (Hopper and earlier); Megatron-FSDP (ZeRO-2/3) asserts the opposite.
      if ((l.tp > 1 || l.cp > 1) && l.zero < 2) e.env.push_back({"CUDA_DEVICE_MAX_CONNECTIONS", "1"});
      break;
    case Framework::MegatronDeepSpeed:
      e.program = "pretrain_gpt.py";
      e.args = megatron_deepspeed_args(p);
      if (l.tp > 1 && l.sequence_parallel) e.env.push_back({"CUDA_DEVICE_MAX_CONNECTIONS", "1"});
      break;
    case Framework::DeepSpeed:
      e.program = detail::placeholder("TRAIN_SCRIPT", "your DeepSpeed training script (it calls deepspeed.add_config_arguments)");
      e.args = {"--deepspeed", "--deepspeed_config ds_config.json"};
      break;
    case Framework::Torchtitan:
      e.program = "-m torchtitan.train";
      e.args = torchtitan_args(p);
      e.env.push_back({"PYTORCH_ALLOC_CONF", "expandable_segments:True"});  // as run_train.sh
      e.env.push_back({"PYTHONPATH", "$PWD${PYTHONPATH:+:$PYTHONPATH}"});  // finds parplan_recipe.py
      // parplan_recipe.py reads the dataset from the environment (no CLI option takes it).
      e.env.push_back({"DATASET_PATH", detail::placeholder("DATASET_PATH", "a Hugging Face dataset name or directory")});
      break;
    case Framework::Parplan:
      e.python = false;
      e.program = "parplan run";
      e.args = {"--plan plan.json"};
      break;
  }
  return e;
}

std::vector<ExportFile> launch_files(const Plan& p, ExportFormat f, Framework fw) {
  const detail::Shape sh = detail::shape(p);
  const EntryPoint e = entry_point(p, fw);
  std::string env;
  for (const auto& [k, v] : e.env) env += "export " + k + "=" + v + "\n";
  const std::string args = join_args(e.args, "    ");
  // Under mpiexec/srun, Python frameworks read torch.distributed's env:// variables; map the
  // launcher's own (parplan run reads PALS_* / SLURM_* itself).
  auto ranked = [&](const std::string& rank, const std::string& local, const std::string& size) {
    if (!e.python) return e.program + args;
    return "bash -c 'RANK=$" + rank + " LOCAL_RANK=$" + local + " WORLD_SIZE=$" + size +
           " exec python3 " + e.program + " \"$@\"' _" + args;
  };
  std::string text = header(p, fw) + env;
  std::string name = "launch.sh";
  switch (f) {
    case ExportFormat::Torchrun:
      text += "# on each of the " + s(sh.nodes) + " nodes (MASTER_ADDR: the first node's address)\n";
      text += "torchrun --nnodes " + s(sh.nodes) + " --nproc-per-node " + s(sh.per_node) +
              " --rdzv-backend c10d --rdzv-endpoint $MASTER_ADDR:29500 " +
              (e.python ? e.program : "--no-python " + e.program) + args + "\n";
      name = fw == Framework::Megatron ? "megatron.sh" : "torchrun.sh";
      break;
    case ExportFormat::Mpiexec:
    case ExportFormat::Pbs: {
      // Polaris-style nodes: 4 GPUs and 32 cores (64 threads); one rank per GPU, -d cores each.
      const int64_t depth = std::max<int64_t>(1, 64 / sh.per_node);
      std::string line = "mpiexec -n " + s(sh.gpus) + " -ppn " + s(sh.per_node) +
                         " --hostfile $PBS_NODEFILE --cpu-bind depth -d " + s(depth) + " " +
                         ranked("PALS_RANKID", "PALS_LOCAL_RANKID", "PMI_SIZE") + "\n";
      if (f == ExportFormat::Mpiexec) {
        text += "# " + s(sh.nodes) + " nodes x " + s(sh.per_node) + " ranks (PBS: select=" +
                s(sh.nodes) + ")\nexport MASTER_ADDR=$(head -n 1 $PBS_NODEFILE) MASTER_PORT=29500\n" + line;
        name = "mpiexec.sh";
      } else {
        text = "#!/bin/bash\n#PBS -l select=" + s(sh.nodes) +
               ":system=polaris\n#PBS -l place=scatter\n#PBS -l filesystems=home:eagle\n"
               "#PBS -l walltime=01:00:00\n#PBS -q prod\n#PBS -A YOUR_PROJECT\n" +
               header(p, fw).substr(std::string("#!/bin/bash\n").size()) +
               "# edit the #PBS lines above (system, project, queue, walltime) before qsub\n"
               "cd \"$PBS_O_WORKDIR\"\n" + env +
               "export MASTER_ADDR=$(head -n 1 $PBS_NODEFILE) MASTER_PORT=29500\n" + line;
        name = "job.pbs";
      }
      break;
    }
    case ExportFormat::Srun:
      text += "# inside an allocation of " + s(sh.nodes) + " nodes (sbatch --nodes " + s(sh.nodes) +
              ")\nexport MASTER_ADDR=$(scontrol show hostnames \"$SLURM_JOB_NODELIST\" | head -n 1) "
              "MASTER_PORT=29500\n";
      text += "srun --nodes " + s(sh.nodes) + " --ntasks-per-node " + s(sh.per_node) +
              " --gpus-per-node " + s(sh.per_node) + " --cpus-per-task " +
              s(std::max<int64_t>(1, 64 / sh.per_node)) + " " +
              ranked("SLURM_PROCID", "SLURM_LOCALID", "SLURM_NTASKS") + "\n";
      name = "srun.sh";
      break;
    default: throw Error("not a launcher format");
  }
  std::vector<ExportFile> files{{name, text}};
  if (fw == Framework::MegatronDeepSpeed) files.push_back({"ds_config.json", deepspeed_config(p, true)});
  if (fw == Framework::DeepSpeed)
    for (auto& file : deepspeed_files(p)) files.push_back(std::move(file));
  return files;
}

}  // namespace parplan::planner
