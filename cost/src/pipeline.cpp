#include "parplan/cost/pipeline.hpp"

#include <algorithm>

namespace parplan::cost {

int64_t micro_batches(const Training& t, const Layout& l) {
  int64_t per = int64_t(l.dp) * l.micro_batch;
  return per > 0 ? t.global_batch / per : 0;
}

int64_t max_stage_layers(int64_t layers, int64_t pp, int64_t v) {
  const int64_t chunks = std::max<int64_t>(1, pp * v);
  return (layers + chunks - 1) / chunks * std::max<int64_t>(1, v);
}

double bubble_fraction(Schedule s, int64_t p, int64_t v, int64_t m) {
  if (p <= 1 || m <= 0) return 0.0;
  // Narayanan et al. 2021, sec. 2.2.1 (GPipe/1F1B: (p-1)/m) and 2.2.2 (interleaved: (p-1)/(v m)).
  double chunks = (s == Schedule::Interleaved && v > 1) ? double(v) : 1.0;
  return double(p - 1) / (chunks * double(m));
}

}  // namespace parplan::cost
