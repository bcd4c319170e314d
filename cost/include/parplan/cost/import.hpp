#pragma once
// Measured runs from the logs a user already has (`parplan import`): Megatron-LM / Megatron-Bridge
// / NeMo, torchtitan and DeepSpeed training logs with the configuration they ran, and parplan-run's
// measured.json, turned into one row of the corpus format (data/published/README.md). The readers
// take text (the CLI reads the files) and follow the formats of the frameworks' code at the
// commits named in cost/src/import/*.cpp. What a log cannot tell is one parplan::Error naming it
// and the option that supplies it.
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "parplan/cost/corpus.hpp"
#include "parplan/model/measured.hpp"

namespace parplan::cost {

struct ImportOptions {
  std::string id;                // row id (default: the log's file name without extension)
  std::string log_name;          // the log's path, for messages and the row's note
  std::string cluster_spec;      // --cluster as given: a preset name or a file path
  std::optional<Cluster> cluster;  // loaded; nullopt: not given
  std::optional<Model> model;    // --model: replaces what the log says of the model
  std::string config_text;       // --config: torchtitan TOML or DeepSpeed ds_config.json
  std::string config_name;
  int64_t seq_len = 0;           // --seq-len (DeepSpeed logs do not print it)
  int64_t gpus = 0;              // --gpus: the job's world size where the log does not print it
  int skip = -1;                 // --skip: logged steps dropped as warm-up; -1: the default
  bool allow_partial = false;    // --allow-partial: a log that stops before its last step
};

// One logged measurement: the step it was logged at and the primary figure there.
struct LoggedStep {
  int64_t step = 0;
  double value = 0;
};

struct ImportedRun {
  std::string reader;   // megatron, torchtitan, deepspeed, parplan-run
  std::string commit;   // the framework commit whose format the reader follows
  Model model;
  Cluster cluster;  // --cluster (parplan-run: the plan's unless given), sized to the run
  Training training;
  Layout layout;
  int64_t world_size = 0;
  Figure figure = Figure::StepTime;
  std::vector<LoggedStep> steps;  // every logged step, in order
  size_t dropped = 0;             // leading steps dropped as warm-up
  double measured = 0;            // median of the kept steps' figure
  double spread_lo = 0, spread_hi = 0;  // their min and max
  double memory_GiB = 0;          // peak per GPU the log reports (0: none)
  std::string memory_kind;        // "max allocated", "max reserved", ...
  std::vector<std::string> notes;  // what was assumed
};

// Which reader a log is for: "megatron", "torchtitan", "deepspeed", or "" when none matches.
std::string detect_log_format(const std::string& text);

ImportedRun import_megatron(const std::string& log, const ImportOptions& o);
ImportedRun import_torchtitan(const std::string& log, const ImportOptions& o);
ImportedRun import_deepspeed(const std::string& log, const ImportOptions& o);
// A parplan-run measured.json (read with the median statistic) and its step_times_s (the trainer
// already leaves out the warm-up steps before first_step): the median step time, its plan.
ImportedRun import_parplan_run(const MeasuredRun& m, const std::vector<double>& step_times_s,
                               const ImportOptions& o);

// The run as a corpus file of one source with one row (fit_source true: the user's own cluster),
// with the model and the cluster inline unless they are presets. corpus_source_from_json reads it
// back.
nlohmann::json to_corpus_json(const ImportedRun& r, const ImportOptions& o);

// Median of the kept steps after `skip` leading ones (default: the first fifth, at least one);
// sets dropped, measured, spread. Throws when fewer than 3 steps remain.
void summarize_steps(ImportedRun& r, int skip, const std::string& what);

}  // namespace parplan::cost
