// `parplan validate`: predicted vs measured over the compiled-in corpus (data/published): per
// source MAPE / worst / Spearman, leave-one-source-out, interval coverage. `--published FILE`
// checks one file of the older Korthikanti format (Table 5 times and Figure 1 memory) instead;
// `--runs DIR` the user's own runs (`parplan import`) with the same tables.
#include <iostream>

#include <nlohmann/json.hpp>

#include "commands.hpp"
#include "format.hpp"
#include "parplan/cost/corpus_report.hpp"
#include "runs_dir.hpp"
#include "parplan/cost/validation.hpp"
#include "parplan/model/io.hpp"

namespace parplan::cli {

namespace {
void validate_one_file(const std::string& file, const std::string& cluster, bool json) {
  const auto pub = parse_json_text(read_file(file), "'" + file + "'");
  const auto rep = cost::validate_published(pub, load_cluster(cluster));
  if (json) {
    nlohmann::json j = {{"source", rep.source},
                        {"iteration_mape", rep.iteration_mape},
                        {"iteration_max_abs_error", rep.iteration_max_abs_error},
                        {"params_max_abs_error", rep.params_max_abs_error},
                        {"activation_max_abs_error", rep.activation_max_abs_error},
                        {"iterations", nlohmann::json::array()},
                        {"memory", nlohmann::json::array()}};
    for (const auto& c : rep.iterations)
      j["iterations"].push_back({{"case", c.label},
                                 {"measured_s", c.measured_s},
                                 {"predicted_s", c.predicted.step_time_s},
                                 {"error", c.error()}});
    for (const auto& m : rep.memory)
      j["memory"].push_back({{"case", m.label},
                             {"params_optimizer_measured_bytes", m.measured_params_optimizer_bytes},
                             {"params_optimizer_predicted_bytes", m.predicted_params_optimizer_bytes},
                             {"activations_measured_bytes", m.measured_activation_bytes},
                             {"activations_predicted_bytes", m.predicted_activation_bytes}});
    std::cout << j.dump(2) << "\n";
    return;
  }
  std::cout << rep.source << "\n\n";
  for (const auto& c : rep.iterations)
    std::cout << pad(c.label, 46) << fmt(" measured %8.2f s", c.measured_s)
              << fmt("  predicted %8.2f s", c.predicted.step_time_s)
              << fmt("  error %+6.1f%%", 100 * c.error()) << "\n";
  std::cout << "iteration time: mean absolute error " << pct(rep.iteration_mape) << ", worst "
            << pct(rep.iteration_max_abs_error) << "\n";
  for (const auto& m : rep.memory)
    std::cout << pad(m.label, 22) << " params+optimizer " << gib(m.measured_params_optimizer_bytes)
              << " vs " << gib(m.predicted_params_optimizer_bytes)
              << fmt(" (%+.2f%%)", 100 * m.params_error()) << "   activations "
              << gib(m.measured_activation_bytes) << " vs " << gib(m.predicted_activation_bytes)
              << fmt(" (%+.2f%%)", 100 * m.activation_error()) << "\n";
}
}  // namespace

void add_validate_command(CLI::App& app) {
  struct Args {
    std::string published, runs, cluster = "dgx-a100-80g";
    bool json = false, rows = false;
  };
  auto a = std::make_shared<Args>();
  auto* cmd = app.add_subcommand(
      "validate", "predicted vs measured over the published corpus (data/published, compiled in)");
  cmd->add_option("--published,-p", a->published,
                  "check one file of the Korthikanti format instead, e.g. "
                  "../shared/data/published/korthikanti2022.json");
  cmd->add_option("--runs", a->runs, "validate your own runs instead: the folder `parplan import` "
                                     "wrote them to (each file a source of one run)");
  cmd->add_option("--cluster,-c", a->cluster, "with --published: the cluster it ran on")
      ->capture_default_str();
  cmd->add_flag("--rows", a->rows, "also print every run: measured, predicted, out-of-sample");
  cmd->add_flag("--json", a->json, "print JSON");
  cmd->callback([a] {
    if (!a->published.empty()) return validate_one_file(a->published, a->cluster, a->json);
    const auto v = cost::validate_corpus(a->runs.empty() ? cost::load_embedded_corpus() : load_runs_dir(a->runs));
    if (a->json) {
      std::cout << cost::to_json(v).dump(2) << "\n";
      return;
    }
    std::cout << cost::corpus_tables(v);
    if (a->rows) std::cout << "\n" << cost::corpus_rows(v);
  });
}

}  // namespace parplan::cli
