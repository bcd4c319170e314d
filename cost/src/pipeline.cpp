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

int64_t layer_chunks(const Layout& l) {
  return l.schedule == Schedule::ZbV || l.schedule == Schedule::DualPipeV
             ? 2
             : std::max<int32_t>(1, l.virtual_stages);
}

int64_t stage_layers(const Model& m, const Layout& l, int stage) {
  const bool has_first = l.first_stage_layers > 0, has_last = l.last_stage_layers > 0;
  if (l.pp <= 1 || (!has_first && !has_last)) return max_stage_layers(m.layers, l.pp, layer_chunks(l));
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

std::vector<int64_t> stage_layer_split(const Model& m, const Layout& l) {
  const int64_t pp = std::max(1, l.pp), v = std::max(1, l.virtual_stages);
  std::vector<int64_t> stage(size_t(pp), 0);
  if (pp > 1 && (l.first_stage_layers > 0 || l.last_stage_layers > 0)) {
    for (int64_t r = 0; r < pp; ++r) stage[size_t(r)] = stage_layers(m, l, int(r));
    return stage;
  }
  const int64_t c = (m.layers + pp * v - 1) / (pp * v);
  for (auto& x : stage) x = c * v;
  int64_t deficit = c * v * pp - m.layers;
  for (int64_t i = 0; i < pp && deficit > 0; i += 2) {
    const size_t lo = size_t(i / 2), hi = size_t(pp - 1 - i / 2);
    const int64_t room_lo = stage[lo] - v, room_hi = lo == hi ? 0 : stage[hi] - v;
    const int64_t take_hi = std::min(room_hi, deficit / 2);
    const int64_t take_lo = std::min(room_lo, deficit - take_hi);
    stage[lo] -= take_lo;
    stage[hi] -= take_hi;
    deficit -= take_lo + take_hi;
  }
  return stage;
}

std::vector<int64_t> chunk_layer_split(const Model& m, const Layout& l) {
  const int64_t pp = std::max(1, l.pp), v = std::max(1, l.virtual_stages);
  const std::vector<int64_t> stage = stage_layer_split(m, l);
  std::vector<int64_t> out(size_t(pp * v), 0);
  for (int64_t r = 0; r < pp; ++r)
    for (int64_t k = 0; k < v; ++k)
      out[size_t(k * pp + r)] = stage[size_t(r)] / v + (k < stage[size_t(r)] % v ? 1 : 0);
  return out;
}

bool splits_weight_grad(Schedule s) {
  return s == Schedule::ZbH1 || s == Schedule::ZbV || s == Schedule::DualPipe ||
         s == Schedule::DualPipeV;
}

double bubble_stages(Schedule s, int64_t p, int64_t v, const PassShares& x) {
  if (p <= 1) return 0.0;
  const double P = double(p - 1);
  const double F = x.forward, B = 1.0 - x.forward, W = x.weight_grad;
  double b = 0;
  switch (s) {
    case Schedule::GPipe:
    case Schedule::OneFOneB: b = P; break;
    case Schedule::Interleaved: b = P / double(std::max<int64_t>(1, v)); break;
    case Schedule::ZbH1: b = P * (F + B - 2 * W); break;
    case Schedule::ZbV: b = P * (F + B - 3 * W) / 2; break;
    case Schedule::DualPipe: b = (double(p) / 2 - 1) * ((F + B) + B - 3 * W); break;
    case Schedule::DualPipeV: b = P * ((F + B) + B - 3 * W) / 2; break;
  }
  return std::max(0.0, b);
}

double bubble_fraction(Schedule s, int64_t p, int64_t v, int64_t m, const PassShares& x) {
  if (p <= 1 || m <= 0) return 0.0;
  return bubble_stages(s, p, v, x) / double(m);
}

int64_t schedule_chunks(Schedule s, int64_t v) {
  switch (s) {
    case Schedule::Interleaved: return std::max<int64_t>(1, v);
    case Schedule::ZbV:
    case Schedule::DualPipe:
    case Schedule::DualPipeV: return 2;
    default: return 1;
  }
}

double exposed_sends(Schedule s, int64_t p, int64_t v, int64_t m) {
  if (p <= 1) return 0.0;
  const double fill = 2.0 * double(p - 1);
  if (s == Schedule::DualPipe || s == Schedule::DualPipeV) return fill;
  return 2.0 * double(schedule_chunks(s, v)) * double(m) + fill;
}

bool overlaps_ep_comm(Schedule s) { return s == Schedule::DualPipe || s == Schedule::DualPipeV; }

double in_flight_stages(Schedule s, int64_t p, int64_t v, int64_t m, int stage,
                        bool a2a_overlap_extra) {
  m = std::max<int64_t>(1, m);
  if (p <= 1) return a2a_overlap_extra ? double(std::min<int64_t>(2, m)) : 1.0;
  const double extra = a2a_overlap_extra ? 1.0 : 0.0;
  switch (s) {
    case Schedule::GPipe: return double(m);
    case Schedule::OneFOneB:
      return std::min(double(p - stage) + extra, double(m));
    case Schedule::Interleaved: {
      // Megatron-LM interleaved warm-up: (p - s - 1) * 2 + (v - 1) * p chunk-micro-batches plus
      // the one in flight, each holding 1/v of the stage's layers; stage 0 gives Korthikanti's
      // factor p (1 + (p - 1) / (p v)).
      v = std::max<int64_t>(1, v);
      double chunks = double((p - stage - 1) * 2 + (v - 1) * p + 1) + extra;
      chunks = std::min(chunks, double(m * v));
      return chunks / double(v);
    }
    case Schedule::ZbH1:
    case Schedule::ZbV: return std::min(double(p) + extra, double(m));
    case Schedule::DualPipe: return std::min(double(p + 1), double(m));
    case Schedule::DualPipeV: return std::min(double(2 * p + 1), double(2 * m)) / 2.0;
  }
  return 1.0;
}

}  // namespace parplan::cost
