// `parplan fit --runs DIR --cluster C --out C.fitted.json`: the cluster's efficiencies fitted to
// the user's imported runs (cost/calibrate_predict.hpp), before / after / leave-one-run-out error
// per run. Served by parplan itself (no LibTorch); `fit --measured` stays with parplan-run.
#include <cmath>
#include <filesystem>
#include <iostream>

#include "commands.hpp"
#include "format.hpp"
#include "inputs.hpp"
#include "parplan/cost/calibrate_predict.hpp"
#include "parplan/cost/intervals.hpp"
#include "runs_dir.hpp"

namespace parplan::cli {

void add_fit_runs_command(CLI::App& app) {
  struct Args {
    std::string runs, cluster, out;
  };
  auto a = std::make_shared<Args>();
  auto* cmd = app.add_subcommand("fit", "fit a cluster's efficiencies to your imported runs "
                                        "(--runs DIR); fit --measured: parplan-run");
  cmd->footer(
      "Fits the cluster's parameters to the runs `parplan import` wrote (every run on the GPUs of "
      "--cluster), prints each run's error before, after and left out (the fit without it), and "
      "writes the fitted cluster with the runs' leave-one-run-out residuals (\"own_residuals\"): "
      "predictions with it take their interval from them once there are 6. Example:\n"
      "  parplan fit --runs runs/ --cluster dgx-h100-80g --out h100.fitted.json\n"
      "The other form, `parplan fit --measured RUN/measured.json... --cluster C --out F`, fits to "
      "parplan-run's own measurements and is served by parplan-run (LibTorch): "
      "`parplan fit --measured x --help` shows its usage.");
  cmd->add_option("--runs", a->runs, "folder of runs written by `parplan import`")->required();
  cmd->add_option("--cluster,-c", a->cluster, "cluster preset or file to start from")->required();
  cmd->add_option("--out,-o", a->out, "the fitted cluster file to write (must not exist)")->required();
  cmd->callback([a, cmd] {
    check_out(cmd, "--out", a->out, {a->cluster}, false);  // the policy (docs/errors.md)
    if (std::filesystem::exists(a->out))
      throw Error("--out: '" + brief(a->out, 200) + "' exists; choose a new file (nothing is overwritten)");
    std::vector<std::string> warnings;
    const Cluster base = load_cluster(a->cluster, &warnings);
    print_warnings(warnings);
    cost::CorpusRun probe;
    probe.cluster = base;
    std::vector<cost::CorpusRun> rows;
    for (const auto& s : load_runs_dir(a->runs))
      for (const auto& r : s.runs) {
        if (r.generation() != probe.generation())
          throw Error("--runs: run '" + brief(r.label(), 200) + "' ran on " + r.cluster.gpu.name +
                      " (" + r.generation() + "), not on the GPUs of " + brief(a->cluster, 200) +
                      " (" + base.gpu.name + ", " + probe.generation() +
                      "); fit each cluster on its own runs");
        rows.push_back(r);
      }
    if (rows.size() < 2)
      throw Error("--runs: 1 run; leave-one-run-out needs at least 2 (import runs of other "
                  "layouts or sizes)");
    const cost::OwnRunsFit f = cost::fit_own_runs(rows, base, cost::embedded_own_cluster_prior());
    auto mean_abs = [](const std::vector<double>& v) {
      double s = 0;
      for (double x : v) s += std::fabs(x);
      return s / double(v.size());
    };
    std::cout << pad("run", 40) << "   before    after  left out (fit without the run)\n";
    for (size_t i = 0; i < rows.size(); ++i)
      std::cout << pad(rows[i].id.size() > 40 ? rows[i].id.substr(0, 37) + "..." : rows[i].id, 40) << fmt(" %+7.1f%%", 100 * f.before[i])
                << fmt("  %+7.1f%%", 100 * f.after[i]) << fmt("  %+7.1f%%", 100 * f.left_out[i]) << "\n";
    std::cout << pad("mean |error|", 40) << fmt(" %7.1f%%", 100 * mean_abs(f.before))
              << fmt("  %7.1f%%", 100 * mean_abs(f.after)) << fmt("  %7.1f%%", 100 * mean_abs(f.left_out))
              << "\n";
    std::cout << "fitted on " << rows.size() << " runs (rms log error " << fmt("%.3f", f.fit.rms_log_before)
              << " -> " << fmt("%.3f", f.fit.rms_log_after) << ", " << f.fit.iterations << " iterations):\n";
    // How many parameters the runs chose (leave-one-out inside them: calibrate_predict.hpp).
    std::cout << "parameters chosen by leave-one-run-out inside the runs (rms log error of each run "
                 "predicted from the others):";
    for (size_t m = 0; m < f.calibration.inner.size(); ++m)
      std::cout << (m ? ", " : " ") << m << fmt(": %.3f", f.calibration.inner[m]);
    std::cout << (f.fit.params.empty() ? "; none moved: fitting predicted the runs left out worse "
                                         "than the cluster's values\n"
                                       : "\n");
    for (size_t k = 0; k < f.fit.params.size(); ++k)
      std::cout << "  " << pad(f.fit.params[k].generation, 8) << " " << pad(f.fit.params[k].name, 18)
                << fmt(" %10.4g", f.fit.initial[k]) << " -> " << fmt("%.4g", f.fit.values[k]) << "\n";
    nlohmann::json out = to_json(f.fitted);
    out["own_residuals"] = f.left_out_log;  // read back by predict (interval_format.hpp)
    std::cout << (rows.size() >= cost::kOwnResidualsMin
                      ? "predictions with this cluster take their interval from these " +
                            std::to_string(rows.size()) + " leave-one-run-out residuals\n"
                      : "predictions with this cluster keep the corpus's intervals: " +
                            std::to_string(rows.size()) + " runs, " +
                            std::to_string(cost::kOwnResidualsMin) +
                            " are needed for an interval of their own\n");
    write_file_atomic(a->out, out.dump(2) + "\n");
    std::cout << "wrote " << a->out << "\n";
  });
}

}  // namespace parplan::cli
