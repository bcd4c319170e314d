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

int64_t stage_layers(const Model& m, const Layout& l, int stage) {
  const bool has_first = l.first_stage_layers > 0, has_last = l.last_stage_layers > 0;
  if (l.pp <= 1 || (!has_first && !has_last)) return max_stage_layers(m.layers, l.pp, l.virtual_stages);
  if (stage == 0 && has_first) return l.first_stage_layers;
  if (stage == l.pp - 1 && has_last) return l.last_stage_layers;
  const int64_t middle = int64_t(l.pp) - has_first - has_last;
  const int64_t rest = m.layers - (has_first ? l.first_stage_layers : 0) -
                       (has_last ? l.last_stage_layers : 0);
  return middle > 0 ? (rest + middle - 1) / middle : 0;
}

int64_t max_stage_layers(const Model& m, const Layout& l) {
  int64_t most = std::max(stage_layers(m, l, 0), stage_layers(m, l, l.pp - 1));
  if (l.pp > 2) most = std::max(most, stage_layers(m, l, 1));
  return most;
}

double bubble_fraction(Schedule s, int64_t p, int64_t v, int64_t m) {
  if (p <= 1 || m <= 0) return 0.0;
  // Narayanan et al. 2021, sec. 2.2.1 (GPipe/1F1B: (p-1)/m) and 2.2.2 (interleaved: (p-1)/(v m)).
  double chunks = (s == Schedule::Interleaved && v > 1) ? double(v) : 1.0;
  return double(p - 1) / (chunks * double(m));
}

}  // namespace parplan::cost
