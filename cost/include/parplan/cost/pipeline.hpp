#pragma once
// Pipeline schedules: bubble fraction and micro-batch counts (Huang et al. 2019 GPipe;
// Narayanan et al. 2021 1F1B and interleaved 1F1B).
#include <cstdint>

#include "parplan/model/layout.hpp"
#include "parplan/model/model.hpp"
#include "parplan/model/training.hpp"

namespace parplan::cost {

// Micro-batches per step per pipeline: global_batch / (dp * micro_batch).
int64_t micro_batches(const Training& t, const Layout& l);

// Layers on the most loaded stage: ceil(layers / (pp v)) per chunk, v chunks. Equals layers / pp
// when pp * v divides the layers; otherwise stages are uneven (as Llama 3 405B's 126 layers on
// 16 stages) and the fullest one paces the pipeline.
int64_t max_stage_layers(int64_t layers, int64_t pp, int64_t v);

// Transformer layers on pipeline stage `stage` (all its chunks). With layout.first_stage_layers /
// last_stage_layers set (Megatron --decoder-first/last-pipeline-num-layers) those stages hold that
// many and the others share the rest equally (layout validation checks it divides); otherwise
// max_stage_layers(layers, pp, v).
int64_t stage_layers(const Model& m, const Layout& l, int stage);
// The most layers any stage holds.
int64_t max_stage_layers(const Model& m, const Layout& l);

// Narayanan et al. 2021 sec. 2.2: bubble time / ideal time = (p - 1) / (v m).
double bubble_fraction(Schedule s, int64_t p, int64_t v, int64_t m);

}  // namespace parplan::cost
