// torchtitan logs and TOML configurations, as pytorch/torchtitan@238fa9953e4aec2a62582121564273d7cbb1e9f1
// (the last commit with TOML train_configs, 2026-02-23) prints and reads them:
//   torchtitan/tools/logging.py: "[titan] %(asctime)s - %(name)s - %(levelname)s - %(message)s";
//   torchtitan/distributed/parallel_dims.py: "Building device mesh with parallelism: pp=.., "
//     "dp_replicate=.., dp_shard=.., cp=.., tp=.., ep=.., etp=.." (the resolved degrees);
//   torchtitan/train.py: "Starting job: {description}", "Building {name} {flavor}with {json of the
//     model args}", "Trainer is initialized with local batch size L, global batch size G, gradient
//     accumulation steps A, sequence length S, total steps N (warmup W)", "Training completed";
//   torchtitan/components/metrics.py MetricsProcessor.log: "step: {step:2}  loss: ..  grad_norm: ..
//     memory: {max_reserved_gib:5.2f}GiB({pct:.2f}%)  tps: {round(tps):,}  tflops: {tflops:,.2f}
//     mfu: {mfu:.2f}%" with ANSI colours, tps = tokens per second per GPU;
//   torchtitan/config/job_config.py: [parallelism], [training], [activation_checkpoint] mode
//     (default "selective"), [compile] enable, [model] converters ("quantize.linear.float8").
// The log does not print activation checkpointing, compile or float8: the TOML (--config) is
// needed for those.
#include <algorithm>
#include <cmath>

#include "common.hpp"

namespace parplan::cost {

using namespace import_detail;

namespace {
const char* kMesh = "Building device mesh with parallelism:";
const char* kTrainer = "Trainer is initialized with";

std::string strip_ansi(const std::string& s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '\033' && i + 1 < s.size() && s[i + 1] == '[') {
      i += 2;
      while (i < s.size() && !(s[i] >= '@' && s[i] <= '~')) ++i;
      continue;
    }
    out += s[i];
  }
  return out;
}

// The TOML of a torchtitan train_config: [section] headers and `key = value` lines with strings,
// numbers, booleans and one-line arrays; keys read as "section.key". Anything else is refused.
Args read_toml(const ImportOptions& o) {
  Args a;
  a.what = "the configuration '" + o.config_name + "'";
  std::string section;
  const auto lines = split_lines(o.config_text);
  for (size_t i = 0; i < lines.size(); ++i) {
    std::string line;
    bool quoted = false;
    for (char c : lines[i]) {
      if (c == '"') quoted = !quoted;
      if (c == '#' && !quoted) break;
      line += c;
    }
    line = trim(line);
    if (line.empty()) continue;
    if (line.front() == '[') {
      if (line.back() != ']' || line.size() < 3)
        fail(o, a.what + " line " + std::to_string(i + 1) + ": a section header must be [name]");
      section = trim(line.substr(1, line.size() - 2));
      continue;
    }
    const size_t eq = line.find('=');
    if (eq == std::string::npos)
      fail(o, a.what + " line " + std::to_string(i + 1) + ": expected key = value (is it a TOML "
              "train_config? pass the one the run used with --config)");
    std::string v = trim(line.substr(eq + 1));
    // An array over several lines ("components = [\n  \"model\",\n]"): joined up to its "]".
    while (!v.empty() && v.front() == '[' && v.find(']') == std::string::npos && i + 1 < lines.size())
      v += " " + trim(lines[++i]);
    if (v.size() >= 2 && v.front() == '"' && v.back() == '"') v = v.substr(1, v.size() - 2);
    a.values[(section.empty() ? "" : section + ".") + trim(line.substr(0, eq))] = v;
  }
  return a;
}

// "key=value, key=value" after `marker` -> map.
Args key_values(const std::string& line, const std::string& marker, const std::string& what) {
  Args a;
  a.what = what;
  std::string rest = line.substr(line.find(marker) + marker.size());
  size_t b = 0;
  while (b < rest.size()) {
    size_t e = rest.find(',', b);
    if (e == std::string::npos) e = rest.size();
    const std::string kv = trim(rest.substr(b, e - b));
    const size_t eq = kv.find('=');
    if (eq != std::string::npos) a.values[trim(kv.substr(0, eq))] = trim(kv.substr(eq + 1));
    b = e + 1;
  }
  return a;
}

// Llama's FeedForward width (torchtitan/models/llama3/model/model.py FeedForward.__init__).
int64_t llama_ffn(int64_t dim, double multiplier, int64_t multiple_of) {
  int64_t h = int64_t(2 * (4 * dim) / 3);
  if (multiplier > 0) h = int64_t(multiplier * double(h));
  return multiple_of * ((h + multiple_of - 1) / multiple_of);
}
}  // namespace

ImportedRun import_torchtitan(const std::string& log, const ImportOptions& o) {
  ImportedRun r;
  r.reader = "torchtitan";
  r.commit = "pytorch/torchtitan@238fa9953e4aec2a62582121564273d7cbb1e9f1";
  const auto lines = split_lines(log);
  Args mesh, trainer;
  size_t mesh_line = 0, starts = 0, start_line = 0;
  bool completed = false;
  nlohmann::json model_args;
  for (size_t i = 0; i < lines.size(); ++i) {
    const std::string line = strip_ansi(lines[i]);
    if (line.find("Starting job:") != std::string::npos) {
      if (++starts == 2)
        fail(o, "a second 'Starting job:' at line " + std::to_string(i + 1) + " (the first at line " +
                    std::to_string(start_line + 1) + "): two runs in one log; split it and import each");
      start_line = i;
    }
    if (line.find(kMesh) != std::string::npos) {
      if (mesh_line > 0)
        fail(o, "a second device mesh at line " + std::to_string(i + 1) + " (the first at line " +
                    std::to_string(mesh_line) + "): two runs in one log; split it and import each");
      mesh = key_values(line, kMesh, "the device mesh line");
      mesh_line = i + 1;
    }
    if (line.find(kTrainer) != std::string::npos) {
      trainer.what = "the 'Trainer is initialized' line";
      double v = 0;
      if (number_after(line, "local batch size", v)) trainer.values["local_batch"] = std::to_string(int64_t(v));
      if (number_after(line, "global batch size", v)) trainer.values["global_batch"] = std::to_string(int64_t(v));
      if (number_after(line, "sequence length", v)) trainer.values["seq_len"] = std::to_string(int64_t(v));
      if (number_after(line, "total steps", v)) trainer.values["steps"] = std::to_string(int64_t(v));
    }
    if (line.find(" - Building ") != std::string::npos && line.find("with {") != std::string::npos) {
      std::string text = line.substr(line.find("with {") + 5);
      int depth = 0;
      for (size_t j = i;; ++j) {
        const std::string& part = j == i ? text : lines[j];
        if (j != i) text += "\n" + part;
        for (char c : part) depth += c == '{' ? 1 : c == '}' ? -1 : 0;
        if (depth <= 0 || j + 1 >= lines.size()) break;
      }
      model_args = nlohmann::json::parse(text, nullptr, false);
    }
    if (line.find("Training completed") != std::string::npos) completed = true;
    const size_t s = line.find("step:");
    if (s == std::string::npos || line.find("validate step:") != std::string::npos) continue;
    double step = 0, tps = 0, mem = 0;
    if (!number_after(line, "step:", step) || !number_after(line, "tps:", tps) ||
        line.find("mfu:") == std::string::npos) {
      if (i + 1 == lines.size() || trim(lines[i + 1]).empty())
        fail(o, "the last step line (line " + std::to_string(i + 1) +
                    ") is cut off: the log is truncated; import a complete log");
      fail(o, "step line " + std::to_string(i + 1) + " lacks its fields (tps, mfu)");
    }
    if (!r.steps.empty() && int64_t(step) <= r.steps.back().step)
      fail(o, "the steps go back from " + std::to_string(r.steps.back().step) + " to " +
                  std::to_string(int64_t(step)) + " at line " + std::to_string(i + 1) +
                  ": two runs (or a restart) in one log; split it and import each part");
    if (number_after(line, "memory:", mem))
      r.memory_GiB = std::max(r.memory_GiB, mem), r.memory_kind = "max reserved (PyTorch)";
    r.steps.push_back({int64_t(step), tps});
  }
  if (mesh_line == 0)
    fail(o, "no '" + std::string(kMesh) + "' line: torchtitan prints its parallel degrees at "
            "start; import the log from its first line");
  if (o.config_text.empty())
    fail(o, "a torchtitan log does not print activation checkpointing, compile or float8; pass "
            "--config with the TOML the run used");
  const Args cfg = read_toml(o);
  if (r.steps.empty()) fail(o, "no step lines ('step: .. tps: ..'): did training start?");
  const int64_t total = trainer.integer(o, "steps", cfg.integer(o, "training.steps", 0));
  if (!completed && total > 0 && r.steps.back().step < total && !o.allow_partial)
    fail(o, "the log ends at step " + std::to_string(r.steps.back().step) + " of " +
                std::to_string(total) + " without 'Training completed': truncated (or the run "
                "died); pass --allow-partial to use the " + std::to_string(r.steps.size()) +
                " logged steps it has");

  // The layout from the mesh; the configuration's explicit degrees must agree with it.
  Layout& l = r.layout;
  const int64_t rep = mesh.integer(o, "dp_replicate", 1), shard = mesh.integer(o, "dp_shard", 1);
  l.pp = int32_t(mesh.integer(o, "pp", 1));
  l.tp = int32_t(mesh.integer(o, "tp", 1));
  l.cp = int32_t(mesh.integer(o, "cp", 1));
  l.ep = int32_t(mesh.integer(o, "ep", 1));
  l.etp = int32_t(mesh.integer(o, "etp", 1));
  l.dp = int32_t(rep * shard);
  const std::pair<const char*, int64_t> degrees[] = {
      {"parallelism.tensor_parallel_degree", l.tp},
      {"parallelism.pipeline_parallel_degree", l.pp},
      {"parallelism.context_parallel_degree", l.cp},
      {"parallelism.data_parallel_replicate_degree", rep},
      {"parallelism.data_parallel_shard_degree", shard}};
  for (const auto& [key, got] : degrees) {
    const int64_t want = cfg.integer(o, key, -1);
    if (want > 0 && want != got)
      fail(o, "the configuration says " + std::string(key) + " = " + std::to_string(want) +
                  " but the log's device mesh has " + std::to_string(got) +
                  " (line " + std::to_string(mesh_line) + "): the layout disagrees with the log's "
                  "world size; pass the TOML this run used");
  }
  r.world_size = o.gpus > 0 ? o.gpus : l.gpus();
  check_world(o, r, "of the device mesh");
  if (shard > 1) {
    l.zero = 3;
    if (rep > 1) l.shard_group = int32_t(shard);
  }
  l.sequence_parallel = l.tp > 1;  // torchtitan's TP plan shards norms and dropout on sequence
  const std::string ac = cfg.str("activation_checkpoint.mode", "selective");
  l.recompute = ac == "full" ? Recompute::Full : ac == "none" ? Recompute::None : Recompute::Selective;
  if (ac == "memory_budget") r.notes.push_back("activation_checkpoint.mode memory_budget priced as selective");
  if (l.pp > 1) {
    l.micro_batch = int32_t(cfg.integer(o, "parallelism.pipeline_parallel_microbatch_size", 1));
    const std::string sched = cfg.str("parallelism.pipeline_parallel_schedule", "1F1B");
    l.schedule = sched == "GPipe" ? Schedule::GPipe
                 : sched.find("Interleaved") != std::string::npos ? Schedule::Interleaved
                                                                   : Schedule::OneFOneB;
    if (l.schedule == Schedule::Interleaved) {
      l.virtual_stages = 2;
      r.notes.push_back("schedule " + sched + " priced with 2 virtual stages per rank");
    }
  } else {
    l.micro_batch = int32_t(trainer.integer(o, "local_batch", cfg.integer(o, "training.local_batch_size")));
  }

  Training& t = r.training;
  t.framework = "fsdp2";
  t.seq_len = trainer.integer(o, "seq_len", cfg.integer(o, "training.seq_len"));
  t.global_batch = trainer.integer(o, "global_batch", cfg.integer(o, "training.global_batch_size", 0));
  if (t.global_batch <= 0) t.global_batch = cfg.integer(o, "training.local_batch_size") * l.dp;
  t.compile = cfg.flag("compile.enable") ? Switch::On : Switch::Off;
  if (cfg.str("model.converters").find("float8") != std::string::npos)
    t.dtype = DType::FP8, t.fp8_recipe = Fp8Recipe::Current;  // torchao's default: tensorwise
  else if (cfg.str("training.mixed_precision_param", "bfloat16") == "float32")
    t.dtype = DType::FP32;
  if (cfg.flag("parallelism.enable_async_tensor_parallel")) t.tp_comm_overlap = Switch::On;
  r.figure = Figure::TokensPerGpu;

  Model& m = r.model;
  if (!o.model) {
    if (!model_args.is_object() || !model_args.contains("dim") || !model_args.contains("n_layers") ||
        model_args.contains("moe_args") || model_args.contains("moe_enabled"))
      fail(o, "the model is not in the log as a dense Llama's arguments ('Building ... with {dim, "
              "n_layers, ...}'); pass --model (a preset, a model file or a Hugging Face config.json)");
    auto num = [&](const char* k, double d) {
      return model_args.contains(k) && model_args[k].is_number() ? model_args[k].get<double>() : d;
    };
    m.hidden = int64_t(num("dim", 0));
    m.layers = int64_t(num("n_layers", 0));
    m.heads = int64_t(num("n_heads", 0));
    m.kv_heads = int64_t(num("n_kv_heads", double(m.heads)));
    m.vocab = int64_t(num("vocab_size", 0));
    m.ffn_hidden = llama_ffn(m.hidden, num("ffn_dim_multiplier", 0), int64_t(num("multiple_of", 256)));
    m.max_seq_len = std::max(int64_t(num("max_seq_len", double(t.seq_len))), t.seq_len);
    m.rotary_base = num("rope_theta", 10000);
    m.gated_mlp = true;
    m.activation = "silu";
    m.position = Position::Rotary;
    m.norm = Norm::RMSNorm;
    m.norm_bias = m.qkv_bias = m.linear_bias = false;
    m.name = cfg.str("model.name", "torchtitan") + "-" + cfg.str("model.flavor", "model");
  }
  summarize_steps(r, o.skip, "import '" + brief(o.log_name, 200) + "'");
  finish(o, r);
  return r;
}

}  // namespace parplan::cost
