#pragma once
// The tables `parplan validate` and bench/validate print (README accuracy section).
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "parplan/cost/calibrate_predict.hpp"
#include "parplan/cost/corpus_memory.hpp"
#include "parplan/cost/intervals.hpp"

namespace parplan::cost {

struct CorpusValidation {
  std::vector<CorpusSource> corpus;     // owned: the reports point into it
  std::vector<SourceReport> in_sample;  // default efficiencies
  LosoReport loso;
  IntervalTable intervals;
  Coverage cover;
  std::vector<std::pair<std::string, Coverage>> cover_by_class;  // by the class intervals came from
  // The other placement of the same residuals' intervals (contain_prediction flipped): both are
  // reported, overall and per class (same classes, same order).
  Coverage cover_other;
  std::vector<std::pair<std::string, Coverage>> cover_other_by_class;
  // The level's choice out of sample too (nested_coverage): each source's cases at the level
  // chosen on the other sources alone.
  Coverage cover_nested;
  std::vector<CalibratePredictSource> calibrate_predict;          // sources with >= 6 rows
  MemoryCheck memory;  // every row ran: predicted peak memory per GPU against the GPU's
};
CorpusValidation validate_corpus(std::vector<CorpusSource> corpus);

// Per-source table (MAPE, worst, Spearman), the leave-one-source-out table, the coverage overall
// and per interval class, the calibrate-then-predict table and the memory check.
std::string corpus_tables(const CorpusValidation& v);
// Every row: measured, predicted, error, in sample and out of sample.
std::string corpus_rows(const CorpusValidation& v);
nlohmann::json to_json(const CorpusValidation& v);

}  // namespace parplan::cost
