#pragma once
// Pipeline schedules: bubble fraction and micro-batch counts (Huang et al. 2019 GPipe;
// Narayanan et al. 2021 1F1B and interleaved 1F1B).
#include <cstdint>

#include "parplan/model/layout.hpp"
#include "parplan/model/training.hpp"

namespace parplan::cost {

// Micro-batches per step per pipeline: global_batch / (dp * micro_batch).
int64_t micro_batches(const Training& t, const Layout& l);

// Narayanan et al. 2021 sec. 2.2: bubble time / ideal time = (p - 1) / (v m).
double bubble_fraction(Schedule s, int64_t p, int64_t v, int64_t m);

}  // namespace parplan::cost
