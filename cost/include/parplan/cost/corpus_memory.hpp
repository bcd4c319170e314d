#pragma once
// The memory check of `parplan validate`: every measured run of the corpus ran, so its layout fit
// in its GPUs' memory. A row whose predicted peak (memory_per_gpu: the peak pipeline stage, as
// `predict` computes it) exceeds its GPU's memory is a model over-count or a recipe fact missing
// on the row; `plan` would discard that layout. Where a source published its peak, both are shown.
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "parplan/cost/corpus.hpp"

namespace parplan::cost {

struct MemoryTerm {
  const char* name;
  double bytes;
};
struct MemoryCheckRow {
  std::string run;  // source/id
  double predicted_bytes = 0, capacity_bytes = 0;
  int stage = 0;            // the peak pipeline stage
  bool fits_host = true;    // offload: the node's host memory (or NVMe) holds its share
  std::vector<MemoryTerm> terms;  // largest first
};
struct PublishedMemory {
  std::string run;
  double predicted_bytes = 0, measured_bytes = 0;
};
struct MemoryCheck {
  size_t rows = 0, fit = 0;
  std::vector<MemoryCheckRow> over;         // ran, but predicted not to fit; largest excess first
  std::vector<PublishedMemory> published;   // rows whose source published a peak per GPU
};

// From the rows as predicted (their StepCost's memory, the peak stage).
MemoryCheck memory_check(const std::vector<SourceReport>& in_sample);
std::string memory_check_table(const MemoryCheck& m);
nlohmann::json to_json(const MemoryCheck& m);

}  // namespace parplan::cost
