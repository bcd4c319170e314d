// bench/calibrate_published: least-squares fit (Levenberg-Marquardt on log step-time errors,
// Eigen) of the calibrated efficiencies and floors to every source of the corpus
// (data/published), from their cited priors, then the same fit without each source (leave one
// source out). `--write FILE` writes the all-source fit as the shipped defaults
// (examples/calibration/efficiency.json) with its provenance. docs/calibration.md records the run.
#include <cstdio>
#include <cmath>
#include <fstream>
#include <iostream>
#include <map>
#include <string>

#include <nlohmann/json.hpp>

#include "parplan/cost/corpus_fit.hpp"

namespace {
void print_fit(const char* title, const parplan::cost::FitResult& f) {
  std::printf("%s: %zu rows, rms log error %.3f -> %.3f (%d iterations)\n", title, f.rows,
              f.rms_log_before, f.rms_log_after, f.iterations);
  for (size_t k = 0; k < f.params.size(); ++k)
    std::printf("  %-9s %-18s prior %9.3f  fitted %9.3f\n", f.params[k].generation.c_str(),
                f.params[k].name, f.initial[k] / f.params[k].unit, f.values[k] / f.params[k].unit);
}

nlohmann::json shipped(const std::vector<parplan::cost::CorpusSource>& corpus,
                       const parplan::cost::FitResult& f, const std::string& commit) {
  nlohmann::json j;
  j["description"] =
      "The shipped efficiencies and per-kernel floors per GPU generation: the cited priors "
      "(model/src/cluster.cpp prior_efficiency, cost/src/floors.cpp) as the fit on every row of "
      "the corpus moved them. Written by `bench/calibrate_published --write`; "
      "tests/cost/corpus_fit_test.cpp checks that it is the fit of the tree. A cluster file's "
      "own \"efficiency\" or gpu floors override these.";
  nlohmann::json src = nlohmann::json::array();
  size_t rows = 0;
  for (const auto& s : corpus) {
    size_t n = 0;
    for (const auto& r : s.runs) n += r.fit ? 1 : 0;
    rows += n;
    src.push_back({{"id", s.id}, {"fit_rows", n}, {"citation", s.citation}});
  }
  j["fit"] = {{"method", "Levenberg-Marquardt on ln(predicted / measured step time), Huber 0.15, "
                         "prior weight per parameter on its log (cost/src/corpus_fit.cpp)"},
              {"corpus", "data/published (docs/calibration.md lists each source's tables)"},
              {"tree", commit},
              {"rows", f.rows},
              {"rms_log_before", f.rms_log_before},
              {"rms_log_after", f.rms_log_after},
              {"sources", src}};
  (void)rows;
  nlohmann::json fitted = nlohmann::json::object();
  for (size_t k = 0; k < f.params.size(); ++k) {
    const double v = f.values[k] / f.params[k].unit;
    fitted[f.params[k].generation][f.params[k].name] = std::round(v * 1e4) / 1e4;
  }
  j["fitted"] = fitted;
  return j;
}
}  // namespace

int main(int argc, char** argv) {
  try {
    std::string out, commit = "(unrecorded)";
    for (int i = 1; i < argc; ++i) {
      const std::string a = argv[i];
      if (a == "--write" && i + 1 < argc) out = argv[++i];
      else if (a == "--tree" && i + 1 < argc) commit = argv[++i];
      else {
        std::cerr << "error: usage: calibrate_published [--write FILE [--tree COMMIT]]\n";
        return 2;
      }
    }
    const auto corpus = parplan::cost::load_embedded_corpus();
    const auto loso = parplan::cost::leave_one_source_out(corpus);
    print_fit("all sources", loso.full);
    for (size_t i = 0; i < loso.fits.size(); ++i)
      print_fit(("without " + loso.held_out[i]).c_str(), loso.fits[i]);
    if (!out.empty()) {
      std::ofstream f(out);
      f << shipped(corpus, loso.full, commit).dump(1) << "\n";
      if (!f) {
        std::cerr << "error: cannot write " << out << "\n";
        return 3;
      }
      std::printf("wrote %s\n", out.c_str());
    }
  } catch (const std::exception& e) {
    std::cerr << "error: " << e.what() << "\n";
    return 2;
  }
  return 0;
}
