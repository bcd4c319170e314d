#pragma once
// The validation corpus (data/published/*.json): measured runs from public sources, predicted and
// compared per source (MAPE, worst case, Spearman rank correlation). docs/calibration.md.
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "parplan/cost/step.hpp"

namespace parplan::cost {

// What a source measured; the primary figure is the first present in this order.
enum class Figure : uint8_t { StepTime, TokensPerGpu, ModelTflops, HardwareTflops, Mfu };
const char* to_string(Figure f);

struct CorpusRun {
  std::string source;  // file id, e.g. "torchtitan-h100"
  std::string id;      // row id
  std::string table;   // "Table 5"
  bool fit = false;    // may the efficiencies be fitted on it
  Model model;
  Cluster cluster;
  Training training;
  Layout layout;
  Figure figure = Figure::StepTime;
  double measured = 0;             // the primary figure, in its unit (s, tokens/s, TFLOP/s, 0..1)
  double measured_memory_GiB = 0;  // peak per GPU where published, else 0
  // Checked against the source: every input as the source states it. false: some input is an
  // assumption or derived (a micro-batch, a schedule), said in `unverified`.
  bool verified = true;
  std::string unverified;
  std::string generation() const;  // ampere, hopper, ...
  std::string label() const { return source + "/" + id; }
};

struct CorpusSource {
  std::string id, citation, url;
  bool fit_source = false;
  std::vector<CorpusRun> runs;
};

struct CorpusFileText {
  const char* name;
  const char* text;
};
std::vector<CorpusFileText> embedded_corpus();  // compiled in from data/published/

// Reads one corpus file. Throws parplan::Error naming the file, the row and the field.
CorpusSource corpus_source_from_json(const nlohmann::json& j, const std::string& file);
// Every embedded file, sorted by id.
std::vector<CorpusSource> load_embedded_corpus();

// Predicted figure of a run's kind, from a prediction.
double figure_of(const StepCost& s, const CorpusRun& r);
// Step-time ratio predicted / measured (> 1: the prediction is slower than measured). For
// throughput figures this is measured / predicted of that figure.
double step_ratio(const StepCost& s, const CorpusRun& r);

struct RowResult {
  const CorpusRun* run = nullptr;
  StepCost predicted;
  double error = 0;  // step_ratio - 1
};
struct SourceReport {
  std::string id;
  bool fit_source = false;
  std::vector<RowResult> rows;
  double mape = 0, worst = 0;
  double spearman = 0;  // predicted vs measured figure within the source; NaN under 3 rows
  std::string worst_row;
};

// Predicts every run on its own cluster (efficiency as the cluster has it).
SourceReport validate_source(const CorpusSource& s);
// Summary metrics of results already predicted.
void summarize(SourceReport& r);

// Spearman rank correlation (ties get their average rank); NaN when fewer than 3 pairs or a side
// is constant.
double spearman(const std::vector<double>& x, const std::vector<double>& y);

}  // namespace parplan::cost
