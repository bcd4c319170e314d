// RunOptions <-> JSON (how `parplan run` hands its options to the ranks it spawns).
#include "parplan/runtime/run.hpp"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <thread>
#include <utility>
#include <vector>

#include "parplan/model/error.hpp"
#include "parplan/model/output_policy.hpp"
#include "parplan/model/plan.hpp"

namespace parplan::runtime {

nlohmann::json to_json(const RunOptions& o) {
  return {{"plan", o.plan}, {"data", o.data}, {"out", o.out}, {"trace_dir", o.trace_dir},
          {"nproc", o.nproc}, {"steps", o.steps}, {"trace_step", o.trace_step}, {"log_interval", o.log_interval},
          {"eval_interval", o.eval_interval}, {"eval_iters", o.eval_iters}, {"lr", o.lr},
          {"seed", o.seed}, {"timeout_s", o.timeout_s}, {"backend", o.backend},
          {"bucket_mb", o.bucket_mb}, {"ckpt_dir", o.ckpt_dir}, {"ckpt_interval", o.ckpt_interval},
          {"resume", o.resume}, {"prompt", o.prompt}, {"sample_tokens", o.sample_tokens},
          {"threads", o.threads}, {"quiet", o.quiet}};
}

RunOptions run_options_from_json(const nlohmann::json& j) {
  RunOptions o;
  o.plan = j.value("plan", o.plan);
  o.data = j.value("data", o.data);
  o.out = j.value("out", o.out);
  o.trace_dir = j.value("trace_dir", o.trace_dir);
  o.nproc = j.value("nproc", o.nproc);
  o.steps = j.value("steps", o.steps);
  o.trace_step = j.value("trace_step", o.trace_step);
  o.log_interval = j.value("log_interval", o.log_interval);
  o.eval_interval = j.value("eval_interval", o.eval_interval);
  o.eval_iters = j.value("eval_iters", o.eval_iters);
  o.lr = j.value("lr", o.lr);
  o.seed = j.value("seed", o.seed);
  o.timeout_s = j.value("timeout_s", o.timeout_s);
  o.backend = j.value("backend", o.backend);
  o.bucket_mb = j.value("bucket_mb", o.bucket_mb);
  o.ckpt_dir = j.value("ckpt_dir", o.ckpt_dir);
  o.ckpt_interval = j.value("ckpt_interval", o.ckpt_interval);
  o.resume = j.value("resume", o.resume);
  o.prompt = j.value("prompt", o.prompt);
  o.sample_tokens = j.value("sample_tokens", o.sample_tokens);
  o.threads = j.value("threads", o.threads);
  o.quiet = j.value("quiet", o.quiet);
  return o;
}

}  // namespace parplan::runtime

namespace parplan::runtime {

namespace {
bool valid_utf8(const std::string& s) {
  size_t i = 0;
  while (i < s.size()) {
    auto c = static_cast<unsigned char>(s[i]);
    size_t n = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
    if (n == 0 || i + n > s.size()) return false;
    uint32_t cp = n == 1 ? c : c & (0x7f >> n);
    for (size_t k = 1; k < n; ++k) {
      auto d = static_cast<unsigned char>(s[i + k]);
      if ((d & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (d & 0x3f);
    }
    if ((n == 2 && cp < 0x80) || (n == 3 && cp < 0x800) || (n == 4 && (cp < 0x10000 || cp > 0x10FFFF)) ||
        (cp >= 0xD800 && cp <= 0xDFFF))
      return false;  // overlong, out of range or a surrogate
    i += n;
  }
  return true;
}

void require(bool ok, const std::string& message) {
  if (!ok) throw Error(message);
}
}  // namespace

void validate_run_options(const RunOptions& o) {
  for (auto [name, value] : {std::pair<const char*, const std::string*>{"--plan", &o.plan},
                             {"--data", &o.data}, {"--out", &o.out}, {"--ckpt-dir", &o.ckpt_dir},
                             {"--trace-dir", &o.trace_dir}, {"--prompt", &o.prompt},
                             {"--backend", &o.backend}})
    require(valid_utf8(*value), std::string(name) + " '" + brief(*value) +
                                    "' is not valid UTF-8; pass it as UTF-8 text");
  std::error_code ec;
  require(o.out.empty() || !std::filesystem::is_directory(o.out, ec),
          "--out '" + brief(o.out, 200) + "' is a directory; name the measured.json file to write");
  require(o.steps >= 1 && o.steps <= 1000000000, "--steps must be between 1 and 1e9, got " + std::to_string(o.steps));
  require(o.trace_step >= -1 && o.trace_step < o.steps,
          "--trace-step must be a step before --steps (0 to " + std::to_string(o.steps - 1) +
              "), got " + std::to_string(o.trace_step));
  require(o.log_interval >= 0, "--log-interval must be >= 0 (0: no per-step log)");
  require(o.eval_interval >= 0, "--eval-interval must be >= 0 (0: evaluate at the end only)");
  require(o.eval_iters >= 0 && o.eval_iters <= 1000000, "--eval-iters must be between 0 and 1e6");
  require(std::isfinite(o.lr) && o.lr >= 0,
          "--lr must be a finite number > 0; leave it out to use the plan's train.learning_rate");
  require(std::isfinite(o.timeout_s) && o.timeout_s > 0 && o.timeout_s <= 7 * 86400,
          "--timeout-s must be a finite number of seconds > 0 and <= 604800 (a week)");
  require(std::isfinite(o.bucket_mb) && o.bucket_mb > 0 && o.bucket_mb <= 1e6,
          "--bucket-mb must be a finite number > 0 and <= 1e6 (MB)");
  require(o.backend == "auto" || o.backend == "gloo" || o.backend == "nccl",
          "--backend must be auto, gloo or nccl, got '" + brief(o.backend) + "'");
  require(o.nproc >= 0 && o.nproc <= 1024, "--nproc must be between 1 and 1024 local ranks");
  require(o.ckpt_interval >= 0, "--ckpt-interval must be >= 1 (checkpoint every N steps)");
  require(o.ckpt_dir.empty() || o.ckpt_interval > 0 || o.resume,
          "--ckpt-dir needs --ckpt-interval N (checkpoint every N steps)");
  require(o.ckpt_interval == 0 || !o.ckpt_dir.empty(), "--ckpt-interval needs --ckpt-dir (where to write them)");
  require(o.sample_tokens >= 0 && o.sample_tokens <= 1000000, "--sample-tokens must be between 0 and 1e6");
  const int64_t cores = std::max<int64_t>(1, std::thread::hardware_concurrency());
  require(o.threads >= 0 && o.threads <= cores,
          "--threads " + std::to_string(o.threads) + ": use 1 to " + std::to_string(cores) +
              " (this machine's cores), or 0 for cores / ranks");
}

void apply_model_overrides(Plan& plan, const RunOptions& o) {
  auto& m = plan.model;
  require(o.layers >= 0 && o.layers <= 100000, "--layers must be between 1 and 100000");
  require(o.hidden >= 0 && o.hidden <= 1000000, "--hidden must be between 1 and 1e6");
  require(o.vocab >= 0 && o.vocab <= 10000000, "--vocab must be between 1 and 1e7");
  if (o.layers > 0) {
    m.layers = o.layers;
    m.moe.first_dense_layers = std::min(m.moe.first_dense_layers, o.layers);
  }
  if (o.hidden > 0) {
    require(m.heads > 0 && o.hidden % m.heads == 0,
            "--hidden " + std::to_string(o.hidden) + " must be a multiple of model.heads (" +
                std::to_string(m.heads) + "); the heads are kept and head_dim = hidden / heads");
    auto scale = [&](int64_t w) {  // FFN widths keep their ratio to hidden (at least 1)
      return w > 0 ? std::max<int64_t>(1, int64_t(std::llround(double(w) * double(o.hidden) / double(m.hidden)))) : w;
    };
    m.ffn_hidden = scale(m.ffn_hidden);
    m.moe.expert_ffn_hidden = scale(m.moe.expert_ffn_hidden);
    m.moe.shared_expert_ffn_hidden = scale(m.moe.shared_expert_ffn_hidden);
    m.hidden = o.hidden;
    m.head_dim_explicit = 0;
  }
  if (o.vocab > 0) m.vocab = o.vocab;
}

void check_run_outputs(const RunOptions& o) {
  if (o.out.empty()) return;
  std::vector<std::string> inputs{o.plan, o.data};
  for (const char* f : {"train.bin", "val.bin", "meta.json"})  // a `parplan prepare` folder
    if (!o.data.empty()) inputs.push_back((std::filesystem::path(o.data) / f).string());
  check_output("--out", o.out, inputs);
}

}  // namespace parplan::runtime
