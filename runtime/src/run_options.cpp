// RunOptions <-> JSON (how `parplan run` hands its options to the ranks it spawns).
#include "parplan/runtime/run.hpp"

namespace parplan::runtime {

nlohmann::json to_json(const RunOptions& o) {
  return {{"plan", o.plan}, {"data", o.data}, {"out", o.out}, {"trace_dir", o.trace_dir},
          {"nproc", o.nproc}, {"steps", o.steps}, {"log_interval", o.log_interval},
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
