// `parplan import LOG`: a Megatron-LM / Megatron-Bridge / NeMo, torchtitan or DeepSpeed training
// log (with the configuration it ran), or parplan-run's measured.json, as one measured run in the
// corpus format (data/published/README.md) — the input of `validate --runs` and `fit --runs`.
// The readers are cost/src/import/*.cpp.
#include <filesystem>
#include <iostream>

#include "commands.hpp"
#include "format.hpp"
#include "inputs.hpp"
#include "parplan/cost/import.hpp"
#include "parplan/model/io.hpp"

namespace parplan::cli {

namespace {
std::string stem(const std::string& path) {
  std::string s = std::filesystem::path(path).stem().string();
  return s.empty() ? "run" : s;
}
}  // namespace

void add_import_command(CLI::App& app) {
  struct Args {
    std::string log, format = "auto", cluster, model, config, out, id;
    int64_t seq_len = 0, gpus = 0;
    int skip = -1;
    bool allow_partial = false;
  };
  auto a = std::make_shared<Args>();
  auto* cmd = app.add_subcommand(
      "import", "read a training log (Megatron-LM/Bridge/NeMo, torchtitan, DeepSpeed) or a "
                "parplan-run measured.json into a measured run for validate/fit --runs");
  cmd->add_option("log", a->log, "the training log (stdout of rank 0) or measured.json")->required();
  cmd->add_option("--format", a->format, "auto | megatron | torchtitan | deepspeed | parplan-run")
      ->check(CLI::IsMember({"auto", "megatron", "torchtitan", "deepspeed", "parplan-run"}))
      ->capture_default_str();
  cmd->add_option("--cluster,-c", a->cluster,
                  "the cluster it ran on: a preset (dgx-h100-80g, ...) or a cluster file");
  cmd->add_option("--model,-m", a->model,
                  "the model, where the log does not print it (DeepSpeed) or to replace it: a "
                  "preset, a model file or a Hugging Face config.json");
  cmd->add_option("--config", a->config,
                  "the configuration the run used: torchtitan TOML, DeepSpeed ds_config.json");
  cmd->add_option("--seq-len", a->seq_len, "sequence length (DeepSpeed logs do not print it)")
      ->check(CLI::Range(int64_t(1), int64_t(1) << 40));
  cmd->add_option("--gpus", a->gpus, "the job's world size, where the log does not print it")
      ->check(CLI::Range(int64_t(1), int64_t(1) << 30));
  cmd->add_option("--skip", a->skip,
                  "logged steps dropped as warm-up (default: the first fifth, at least one)")
      ->check(CLI::Range(0, 1 << 30));
  cmd->add_flag("--allow-partial", a->allow_partial,
                "use a log that stops before its last step (a run stopped early)");
  cmd->add_option("--id", a->id, "the run's id (default: the log's file name)");
  cmd->add_option("--out,-o", a->out, "the run file to write (must not exist); - for stdout")
      ->required();
  cmd->callback([a, cmd] {
    // Outputs first (docs/errors.md "Output paths"), and import never replaces a run file.
    check_out(cmd, "--out", a->out, {a->log, a->cluster, a->model, a->config}, true);
    if (a->out != "-" && std::filesystem::exists(a->out))
      throw Error("--out: '" + brief(a->out, 200) + "' exists; choose a new file (nothing is overwritten)");
    cost::ImportOptions o;
    o.log_name = a->log;
    o.id = a->id.empty() ? stem(a->log) : a->id;
    o.cluster_spec = a->cluster;
    std::vector<std::string> warnings;
    if (!a->cluster.empty()) o.cluster = load_cluster(a->cluster, &warnings);
    if (!a->model.empty()) o.model = load_model(a->model, &warnings);
    if (!a->config.empty()) o.config_text = read_file(a->config), o.config_name = a->config;
    o.seq_len = a->seq_len;
    o.gpus = a->gpus;
    o.skip = a->skip;
    o.allow_partial = a->allow_partial;
    print_warnings(warnings);
    const std::string text = read_file(a->log);
    std::string format = a->format;
    const bool json = text.find_first_not_of(" \t\r\n") != std::string::npos &&
                      text[text.find_first_not_of(" \t\r\n")] == '{';
    if (format == "auto") format = json ? "parplan-run" : cost::detect_log_format(text);
    if (format.empty())
      throw Error("'" + brief(a->log, 200) + "' is none of the logs parplan reads (no Megatron "
                  "arguments block or iteration lines, no torchtitan '[titan]' lines, no DeepSpeed "
                  "throughput lines, not a measured.json); pass --format if it is one");
    cost::ImportedRun r;
    if (format == "megatron") r = cost::import_megatron(text, o);
    else if (format == "torchtitan") r = cost::import_torchtitan(text, o);
    else if (format == "deepspeed") r = cost::import_deepspeed(text, o);
    else {
      const auto j = parse_json_text(text, "'" + brief(a->log, 200) + "'");
      std::vector<double> times;
      if (j.contains("step_times_s") && j["step_times_s"].is_array())
        for (const auto& t : j["step_times_s"])
          if (t.is_number()) times.push_back(t.get<double>());
      Diagnostics d;
      const MeasuredRun m = measured_from_json(j, "median", a->log, d);
      if (!d.ok()) throw Error("'" + brief(a->log, 200) + "': " + d.errors.front());
      r = cost::import_parplan_run(m, times, o);
    }
    const auto corpus = cost::to_corpus_json(r, o);
    // Read back as validate/fit will: a run that does not load is refused here, not there.
    const auto src = cost::corpus_source_from_json(corpus, o.id);
    const auto& run = src.runs.front();
    const auto p = cost::predict(run.model, run.cluster, run.training, run.layout);
    const double pred = cost::figure_of(p, run);
    const char* unit = r.figure == cost::Figure::StepTime ? " s" : " tokens/s/GPU";
    std::cerr << r.reader << " log: " << r.steps.size() << " logged steps, " << r.dropped
              << " dropped as warm-up; " << cost::to_string(r.figure) << " median "
              << fmt("%.4g", r.measured) << unit << " (min " << fmt("%.4g", r.spread_lo) << ", max "
              << fmt("%.4g", r.spread_hi) << "); " << describe(r.layout) << " on " << r.layout.gpus()
              << " GPUs of " << r.cluster.name << "\n";
    std::cerr << "predicted " << fmt("%.4g", pred) << unit << " ("
              << fmt("%+.1f%%", 100 * (cost::step_ratio(p, run) - 1)) << " as step time)\n";
    for (const auto& n : r.notes) std::cerr << "assumed: " << n << "\n";
    if (a->out == "-") {
      std::cout << corpus.dump(1) << "\n";
      return;
    }
    write_file_atomic(a->out, corpus.dump(1) + "\n");
    std::cerr << "wrote " << a->out << "\n";
  });
}

}  // namespace parplan::cli
