// `parplan validate --published FILE`: predicted vs published measurements (bench/validate too).
#include <iostream>

#include <nlohmann/json.hpp>

#include "commands.hpp"
#include "format.hpp"
#include "parplan/cost/validation.hpp"
#include "parplan/model/io.hpp"

namespace parplan::cli {

void add_validate_command(CLI::App& app) {
  struct Args {
    std::string published, cluster = "dgx-a100-80g";
    bool json = false;
  };
  auto a = std::make_shared<Args>();
  auto* cmd = app.add_subcommand("validate", "compare predictions with a published measurement file");
  cmd->add_option("--published,-p", a->published,
                  "published file, e.g. ../shared/data/published/korthikanti2022.json")
      ->required();
  cmd->add_option("--cluster,-c", a->cluster, "cluster the measurements ran on")->capture_default_str();
  cmd->add_flag("--json", a->json, "print JSON");
  cmd->callback([a] {
    const auto pub = parse_json_text(read_file(a->published), "'" + a->published + "'");
    const auto rep = cost::validate_published(pub, load_cluster(a->cluster));
    if (a->json) {
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
      std::cout << pad(m.label, 22) << " params+optimizer "
                << gib(m.measured_params_optimizer_bytes) << " vs "
                << gib(m.predicted_params_optimizer_bytes) << fmt(" (%+.2f%%)", 100 * m.params_error())
                << "   activations " << gib(m.measured_activation_bytes) << " vs "
                << gib(m.predicted_activation_bytes) << fmt(" (%+.2f%%)", 100 * m.activation_error())
                << "\n";
  });
}

}  // namespace parplan::cli
