#pragma once
// One row of the compiled-in corpus (data/published) by its label "source/run", as the tests that
// check a mechanism on a real measured run look it up. Throws when the row is gone, so a renamed
// or removed row fails the test that depends on it instead of silently testing nothing.
#include <stdexcept>
#include <string>

#include "parplan/cost/corpus.hpp"

namespace parplan::test {

inline cost::CorpusRun corpus_row(const std::string& label) {
  for (const auto& s : cost::load_embedded_corpus())
    for (const auto& r : s.runs)
      if (r.label() == label) return r;
  throw std::runtime_error(label + " is not a row of data/published");
}

}  // namespace parplan::test
