// bench/validate: the whole corpus (data/published, compiled in): per-source MAPE / worst /
// Spearman in sample, the leave-one-source-out table, the interval coverage, every row; then the
// Korthikanti et al. 2022 memory check from a published file (default:
// shared/data/published/korthikanti2022.json). Usage: validate [published.json] [cluster]
#include <cstdio>
#include <iostream>

#include "parplan/cost/corpus_report.hpp"
#include "parplan/cost/validation.hpp"
#include "parplan/model/io.hpp"

int main(int argc, char** argv) {
  try {
    const auto v = parplan::cost::validate_corpus(parplan::cost::load_embedded_corpus());
    std::printf("%s\n%s\n", parplan::cost::corpus_tables(v).c_str(),
                parplan::cost::corpus_rows(v).c_str());
    const std::string file = argc > 1 ? argv[1] : PARPLAN_DEFAULT_PUBLISHED;
    const std::string cluster = argc > 2 ? argv[2] : "dgx-a100-80g";
    auto pub = parplan::parse_json_text(parplan::read_file(file), file);
    auto rep = parplan::cost::validate_published(pub, parplan::load_cluster(cluster));
    std::printf("%s\n\n", rep.source.c_str());
    std::printf("%-44s %10s %10s %8s\n", "iteration time", "measured", "predicted", "error");
    for (const auto& c : rep.iterations)
      std::printf("%-44s %9.2fs %9.2fs %+7.1f%%\n", c.label.c_str(), c.measured_s,
                  c.predicted.step_time_s, 100 * c.error());
    std::printf("mean absolute error %.2f%%, worst %.2f%%\n\n", 100 * rep.iteration_mape,
                100 * rep.iteration_max_abs_error);
    std::printf("%-22s %12s %12s %8s %12s %12s %8s\n", "memory (GiB/GPU)", "params+opt",
                "predicted", "error", "activations", "predicted", "error");
    const double g = 1024.0 * 1024 * 1024;
    for (const auto& m : rep.memory)
      std::printf("%-22s %12.2f %12.2f %+7.2f%% %12.2f %12.2f %+7.2f%%\n", m.label.c_str(),
                  m.measured_params_optimizer_bytes / g, m.predicted_params_optimizer_bytes / g,
                  100 * m.params_error(), m.measured_activation_bytes / g,
                  m.predicted_activation_bytes / g, 100 * m.activation_error());
    std::printf("worst params+optimizer error %.2f%%, worst activation error %.2f%%\n",
                100 * rep.params_max_abs_error, 100 * rep.activation_max_abs_error);
  } catch (const std::exception& e) {
    std::cerr << "error: " << e.what() << "\n";
    return 2;
  }
  return 0;
}
