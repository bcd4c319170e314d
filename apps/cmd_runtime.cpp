// `parplan run | calibrate | prepare` and the hidden `parplan worker` (one spawned rank).
#include <filesystem>
#include <iostream>

#include "commands.hpp"
#include "option_checks.hpp"
#include "parplan/model/error.hpp"
#include "parplan/model/output_policy.hpp"
#include "parplan/runtime/data.hpp"
#include "parplan/runtime/run.hpp"

namespace parplan::cli {

namespace {
const char* kSelf = "/proc/self/exe";  // ranks re-execute this binary as `parplan worker`
}

void add_runtime_commands(CLI::App& app) {
  auto o = std::make_shared<runtime::RunOptions>();
  auto* run = app.add_subcommand("run", "Train a GPT under a plan's layout with real DP/TP/PP/ZeRO "
                                        "(LibTorch; NCCL on CUDA, Gloo on CPU) and measure it");
  run->add_option("--plan", o->plan, "plan.json (from `parplan plan`)")->required();
  run->add_option("--data", o->data, "UTF-8 text file or a `parplan prepare` directory")->required();
  run->add_option("--out", o->out, "measured.json to write")->required();
  run->add_option("--nproc", o->nproc, "local ranks to spawn (default: the plan's GPU count)")
      ->check(int_range(1, 1024));
  run->add_option("--steps", o->steps, "optimizer steps")->capture_default_str()
      ->check(int_range(1, 1000000000));
  run->add_option("--log-interval", o->log_interval, "log every N steps")->capture_default_str()
      ->check(int_range(0, 1000000000));
  run->add_option("--eval-interval", o->eval_interval, "train/val loss every N steps (0: at the end)")
      ->capture_default_str()->check(int_range(0, 1000000000));
  run->add_option("--eval-iters", o->eval_iters, "batches per evaluation")->capture_default_str()
      ->check(int_range(0, 1000000));
  run->add_option("--lr", o->lr, "learning rate (default: the plan's training.learning_rate)")
      ->check(finite_range(0, 1e300, false));
  run->add_option("--seed", o->seed, "initialisation and batch seed")->capture_default_str()
      ->check(int_range(0, 9007199254740991LL));  // 2^53 - 1: exact in measured.json's double
  run->add_option("--timeout-s", o->timeout_s, "timeout of every collective and the rendezvous")
      ->capture_default_str()->check(finite_range(0, 604800, false));
  run->add_option("--backend", o->backend, "auto | gloo | nccl")->capture_default_str()
      ->check(CLI::IsMember({"auto", "gloo", "nccl"}));
  run->add_option("--bucket-mb", o->bucket_mb, "gradient all-reduce bucket (MB)")->capture_default_str()
      ->check(finite_range(0, 1e6, false));
  run->add_option("--ckpt-dir", o->ckpt_dir, "write checkpoints here");
  run->add_option("--ckpt-interval", o->ckpt_interval, "checkpoint every N steps")
      ->check(int_range(1, 1000000000));
  run->add_flag("--resume", o->resume, "continue from the latest checkpoint in --ckpt-dir");
  run->add_option("--trace-dir", o->trace_dir, "Chrome traces of one step (default: <out>.trace/)");
  run->add_option("--trace-step", o->trace_step,
                  "the step traced, from 0 (default: the third after the start; later steps are "
                  "past the warm-up)")
      ->check(int_range(0, 1000000000));
  run->add_option("--prompt", o->prompt, "prompt of the generated sample");
  run->add_option("--sample-tokens", o->sample_tokens, "characters to generate at the end")
      ->capture_default_str()->check(int_range(0, 1000000));
  run->add_option("--threads", o->threads, "intra-op threads per rank (0: cores / ranks)")
      ->check(threads_range());
  run->add_flag("--quiet", o->quiet, "no per-step log");
  run->add_option("--layers", o->layers, "override the model's layers (scale an HF config down)")
      ->check(int_range(1, 100000));
  run->add_option("--hidden", o->hidden, "override the model's hidden size (heads kept, FFN scaled)")
      ->check(int_range(1, 1000000));
  run->add_option("--vocab", o->vocab, "override the model's vocabulary (>= the data's symbols)")
      ->check(int_range(1, 10000000));
  run->callback([o] {
    if (o->out.empty()) throw Error("--out is empty; name the measured.json file to write");
    // The output policy is checked by rank 0 before any rank starts (launch.cpp): under torchrun
    // the other nodes may not see --out's folder.
    auto m = runtime::run(*o, kSelf, {"worker"});
    // Ranks != 0 of a torchrun / mpiexec / srun launch: rank 0 writes the results.
    if (m.is_object() && m.contains("rank") && !m.contains("mean_step_time_s")) {
      std::cout << "rank " << m["rank"].get<int>() << " done; rank 0 writes " << o->out << "\n";
      return;
    }
    if (!m.is_object()) throw EnvironmentError("the run wrote no results to " + o->out);
    auto num = [&](const char* k) { return m.contains(k) && m[k].is_number() ? m[k].get<double>() : 0.0; };
    std::cout << "mean step " << num("mean_step_time_s") << " s, " << num("tokens_per_s")
              << " tokens/s, mfu " << 100 * num("mfu") << " %; wrote " << o->out << "\n";
  });

  auto* worker = app.add_subcommand("worker", "");  // hidden: one rank spawned by `run`
  worker->group("");
  worker->callback([] {
    int rc = runtime::worker_main();
    if (rc != 0) std::exit(rc);
  });

  auto c = std::make_shared<runtime::CalibrateOptions>();
  auto* cal = app.add_subcommand("calibrate", "Measure matmul FLOP/s, memory bandwidth and "
                                              "collective bandwidth/latency; write a cluster file");
  cal->add_option("--nproc", c->nproc, "ranks (collectives measured over 2..N)")->capture_default_str()
      ->check(int_range(1, 1024));
  cal->add_option("--out", c->out, "cluster.json to write")->required();
  cal->add_option("--dtype", c->dtype, "training dtype of the matmuls")->capture_default_str();
  cal->add_option("--timeout-s", c->timeout_s, "timeout of every collective")->capture_default_str()
      ->check(finite_range(0, 604800, false));
  cal->add_option("--backend", c->backend, "auto | gloo | nccl")->capture_default_str()
      ->check(CLI::IsMember({"auto", "gloo", "nccl"}));
  cal->add_option("--name", c->name, "cluster name")->capture_default_str();
  cal->add_option("--plan", c->plan, "measure the GEMM shapes of this plan's model");
  cal->callback([c] {
    if (c->out.empty()) throw Error("--out is empty; name the cluster.json file to write");
    check_output("--out", c->out, {c->plan});  // before any measurement
    auto j = runtime::calibrate(*c, kSelf, {"worker"});
    std::cout << "wrote " << c->out << ": peak " << j["gpu"]["peak_tflops"].dump() << " TFLOP/s, "
              << j["gpu"]["memory_GBps"] << " GB/s, link " << j["intra_node"]["bandwidth_GBps"]
              << " GB/s\n";
    const auto& blas = j["calibration"]["blas"];
    std::cout << "BLAS: " << blas.value("kind", "?") << " (" << blas.value("library", "?") << ")"
              << (blas.contains("openblas_config") ? ", " + blas["openblas_config"].get<std::string>() : "")
              << "\n";
  });

  auto data = std::make_shared<std::string>();
  auto dir = std::make_shared<std::string>();
  auto* prep = app.add_subcommand("prepare", "Tokenize a UTF-8 text (characters) into train.bin / "
                                             "val.bin (90/10) and meta.json");
  prep->add_option("--data", *data, "UTF-8 text file")->required();
  prep->add_option("--out", *dir, "output directory")->required();
  prep->callback([data, dir] {
    // The output policy: a folder (made if only its last level is missing), and none of the
    // three files it writes may be a device, a FIFO or the --data text itself.
    check_output_dir("--out", *dir);
    std::error_code ec;  // a folder that does not exist yet holds no file to protect
    if (std::filesystem::is_directory(*dir, ec))
      for (const char* f : {"train.bin", "val.bin", "meta.json"})
        check_output("--out", (std::filesystem::path(*dir) / f).string(), {*data});
    auto d = runtime::dataset_from_text(*data);
    runtime::write_prepared(d, *dir);
    std::cout << "wrote " << *dir << ": " << d.train.size() << " train / " << d.val.size()
              << " val tokens, " << d.vocab.size() << " symbols\n";
  });
}

}  // namespace parplan::cli
