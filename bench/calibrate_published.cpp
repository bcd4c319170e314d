// bench/calibrate_published: least-squares fit (Levenberg-Marquardt on log step-time errors,
// Eigen) of the calibrated efficiencies to the corpus's fit-sources (data/published with
// "fit_source": true: Korthikanti 2022, torchtitan's tables, DeepSeek-V3), then the same fit
// without each fit source (leave one source out). docs/calibration.md records the run.
#include <cstdio>
#include <iostream>

#include "parplan/cost/corpus_fit.hpp"

namespace {
void print_fit(const char* title, const parplan::cost::FitResult& f) {
  std::printf("%s: %zu rows, rms log error %.3f -> %.3f (%d iterations)\n", title, f.rows,
              f.rms_log_before, f.rms_log_after, f.iterations);
  for (size_t k = 0; k < f.params.size(); ++k)
    std::printf("  %-8s %-18s default %9.3f  fitted %9.3f\n", f.params[k].generation.c_str(),
                f.params[k].name, f.initial[k] / f.params[k].unit, f.values[k] / f.params[k].unit);
}
}  // namespace

int main() {
  try {
    const auto corpus = parplan::cost::load_embedded_corpus();
    const auto loso = parplan::cost::leave_one_source_out(corpus);
    print_fit("all fit sources", loso.full);
    for (size_t i = 0; i < loso.fits.size(); ++i)
      print_fit(("without " + loso.held_out[i]).c_str(), loso.fits[i]);
  } catch (const std::exception& e) {
    std::cerr << "error: " << e.what() << "\n";
    return 2;
  }
  return 0;
}
