// DeepSpeed logs and ds_config.json, as deepspeedai/DeepSpeed@edaa7221267243c7be7fb49c5d5f5c4fb97b4641
// prints and reads them:
//   deepspeed/utils/logging.py: "[%(asctime)s] [%(levelname)s] [%(filename)s:%(lineno)d:
//     %(funcName)s] %(message)s";
//   deepspeed/runtime/engine.py calls DeepSpeedConfig.print("DeepSpeedEngine configuration")
//     (runtime/config.py): "DeepSpeedEngine configuration:", then "  name ..... value" for every
//     attribute (world_size, train_batch_size, ...; 29 - len(name) dots), then "  json = {...}"
//     (the user's ds_config, indented JSON over several lines);
//   deepspeed/utils/timer.py ThroughputTimer.stop: "epoch={}/micro_step={}/global_step={},
//     RunningAvgSamplesPerSec={}, CurrSamplesPerSec={}, MemAllocated={}GB, MaxMemAllocated={}GB"
//     every steps_per_print steps; CurrSamplesPerSec = train_batch_size / that step's time.
// DeepSpeed prints neither the model nor the sequence length: --model and --seq-len supply them.
#include <algorithm>

#include "common.hpp"

namespace parplan::cost {

using namespace import_detail;

namespace {
const char* kConfig = "DeepSpeedEngine configuration:";
const char* kTput = "RunningAvgSamplesPerSec=";

// The message of a DeepSpeed log line (after the three bracketed fields), else the line.
std::string message_of(const std::string& line) {
  if (line.empty() || line[0] != '[') return line;
  size_t p = 0;
  for (int k = 0; k < 3; ++k) {
    const size_t e = line.find("] ", p);
    if (e == std::string::npos || line[p] != '[') return line;
    p = e + 2;
  }
  return line.substr(p);
}
}  // namespace

ImportedRun import_deepspeed(const std::string& log, const ImportOptions& o) {
  ImportedRun r;
  r.reader = "deepspeed";
  r.commit = "deepspeedai/DeepSpeed@edaa7221267243c7be7fb49c5d5f5c4fb97b4641";
  const auto lines = split_lines(log);
  Args a;
  a.what = "the 'DeepSpeedEngine configuration' block";
  nlohmann::json ds;
  size_t config_line = 0;
  for (size_t i = 0; i < lines.size(); ++i) {
    const std::string msg = message_of(lines[i]);
    if (msg.find(kConfig) != std::string::npos) {
      if (config_line > 0)
        fail(o, "a second '" + std::string(kConfig) + "' at line " + std::to_string(i + 1) +
                    " (the first at line " + std::to_string(config_line) +
                    "): two runs in one log; split it and import each");
      config_line = i + 1;
      for (size_t j = i + 1; j < lines.size(); ++j) {
        const std::string m = message_of(lines[j]);
        const std::string t = trim(m);
        if (starts_with(t, "json = {")) {
          std::string text = t.substr(7);
          int depth = 0;
          for (size_t k = j;; ++k) {
            const std::string& part = k == j ? text : lines[k];
            if (k != j) text += "\n" + part;
            for (char c : part) depth += c == '{' ? 1 : c == '}' ? -1 : 0;
            if (depth <= 0 || k + 1 >= lines.size()) break;
          }
          ds = nlohmann::json::parse(text, nullptr, false);
          break;
        }
        // "name ..... value"; a name of 29 characters or more gets no dots ("name  value").
        const size_t sp = t.find(' ');
        if (sp == std::string::npos || sp + 1 >= t.size() || (t[sp + 1] != '.' && t[sp + 1] != ' ')) break;
        size_t v = sp + 1;
        while (v < t.size() && t[v] == '.') ++v;
        a.values[t.substr(0, sp)] = trim(t.substr(v));
      }
    }
    if (msg.find(kTput) == std::string::npos) continue;
    double step = 0, sps = 0, mem = 0;
    if (!number_after(msg, "global_step=", step) || !number_after(msg, "CurrSamplesPerSec=", sps) ||
        msg.find("MaxMemAllocated=") == std::string::npos || msg.find("GB", msg.find("MaxMemAllocated=")) == std::string::npos) {
      if (i + 1 == lines.size() || trim(lines[i + 1]).empty())
        fail(o, "the last throughput line (line " + std::to_string(i + 1) +
                    ") is cut off: the log is truncated; import a complete log");
      fail(o, "throughput line " + std::to_string(i + 1) + " lacks its fields (global_step, "
              "CurrSamplesPerSec, MaxMemAllocated)");
    }
    if (!r.steps.empty() && int64_t(step) <= r.steps.back().step)
      fail(o, "the global steps go back from " + std::to_string(r.steps.back().step) + " to " +
                  std::to_string(int64_t(step)) + " at line " + std::to_string(i + 1) +
                  ": two runs (or a restart) in one log; split it and import each part");
    if (number_after(msg, "MaxMemAllocated=", mem))
      r.memory_GiB = std::max(r.memory_GiB, mem), r.memory_kind = "max allocated (PyTorch)";
    if (!(sps > 0)) fail(o, "CurrSamplesPerSec is not positive at line " + std::to_string(i + 1));
    r.steps.push_back({int64_t(step), sps});  // samples/s for now: step time below
  }
  if (!o.config_text.empty()) {
    ds = nlohmann::json::parse(o.config_text, nullptr, false);
    if (!ds.is_object()) fail(o, "--config '" + o.config_name + "' is not a JSON ds_config");
  }
  if (config_line == 0 && o.config_text.empty())
    fail(o, "no '" + std::string(kConfig) + "' block and no --config: pass the ds_config.json the "
            "run used (the batch sizes, ZeRO stage and precision come from it)");
  if (!ds.is_object())
    fail(o, "the ds_config in the log ('json = {...}') could not be read; pass it with --config");
  if (r.steps.empty())
    fail(o, "no throughput lines ('" + std::string(kTput) + "'): set steps_per_print in the "
            "ds_config so DeepSpeed logs them");
  if (!o.model) fail(o, "DeepSpeed does not print the model; pass --model (a preset, a model file or a Hugging Face config.json)");
  if (o.seq_len <= 0) fail(o, "DeepSpeed does not print the sequence length; pass --seq-len");

  auto get = [&](const char* key, int64_t fallback) -> int64_t {
    if (ds.contains(key) && ds[key].is_number_integer()) return ds[key].get<int64_t>();
    return a.integer(o, key, fallback);
  };
  const int64_t micro = get("train_micro_batch_size_per_gpu", 0);
  const int64_t gas = get("gradient_accumulation_steps", 1);
  const int64_t batch = get("train_batch_size", 0);
  r.world_size = a.integer(o, "world_size", o.gpus);
  if (o.gpus > 0 && r.world_size != o.gpus)
    fail(o, "--gpus " + std::to_string(o.gpus) + " but the log says world_size " + std::to_string(r.world_size));
  if (r.world_size <= 0)
    fail(o, "the world size is not in the log (no 'DeepSpeedEngine configuration' block); pass --gpus");
  if (micro <= 0 || batch <= 0)
    fail(o, "train_batch_size and train_micro_batch_size_per_gpu must both be in the ds_config");
  Layout& l = r.layout;
  l.dp = int32_t(r.world_size);
  l.micro_batch = int32_t(micro);
  if (micro * gas * r.world_size != batch) {
    l.dp = int32_t(batch / std::max<int64_t>(1, micro * gas));
    fail(o, "the world size is " + std::to_string(r.world_size) + " but train_batch_size " +
                std::to_string(batch) + " / (micro batch " + std::to_string(micro) + " x " +
                std::to_string(gas) + " accumulation steps) makes " +
                std::to_string(double(batch) / double(micro * gas)) +
                " data-parallel ranks: the log and its configuration disagree");
  }
  const nlohmann::json zero = ds.value("zero_optimization", nlohmann::json::object());
  l.zero = zero.is_object() ? int32_t(zero.value("stage", 0)) : 0;
  if (zero.is_object() && zero.contains("offload_optimizer") &&
      zero["offload_optimizer"].value("device", std::string("none")) != "none") {
    l.offload = Offload::Optimizer;
    if (zero.contains("offload_param") && zero["offload_param"].value("device", std::string("none")) != "none")
      l.offload = Offload::OptimizerAndParams;
    if (zero["offload_optimizer"].value("device", std::string()) == "nvme") l.offload_device = OffloadDevice::Nvme;
  }
  r.notes.push_back("activation recomputation is the model's, not in the ds_config: none assumed");

  Training& t = r.training;
  t.framework = "deepspeed";
  t.global_batch = batch;
  t.seq_len = o.seq_len;
  auto enabled = [&](const char* k) { return ds.contains(k) && ds[k].is_object() && ds[k].value("enabled", false); };
  t.dtype = enabled("bf16") ? DType::BF16 : enabled("fp16") ? DType::FP16 : DType::FP32;
  // The figure: step time from the samples per second of each logged step.
  for (auto& s : r.steps) s.value = double(batch) / s.value;
  summarize_steps(r, o.skip, "import '" + brief(o.log_name, 200) + "'");
  finish(o, r);
  return r;
}

}  // namespace parplan::cost
