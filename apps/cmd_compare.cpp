// `parplan compare` (predicted vs measured) and `parplan fit` (least-squares fit of the cluster
// file's efficiency parameters to measured runs). Cost model + Eigen only; no LibTorch.
#include <cmath>
#include <iostream>
#include <memory>

#include <Eigen/Dense>

#include "commands.hpp"
#include "format.hpp"
#include "inputs.hpp"
#include "parplan/cost/step.hpp"
#include "parplan/model/io.hpp"
#include "parplan/model/measured.hpp"

namespace parplan::cli {

namespace {

using Measured = MeasuredRun;  // parplan/model/measured.hpp: every field type-checked

std::string padded(const std::string& s, size_t width, bool left = false) {
  if (s.size() >= width) return s;
  return left ? s + std::string(width - s.size(), ' ') : std::string(width - s.size(), ' ') + s;
}

// What the run's meter counts: model state, or the peak of live tensors (LibTorch's CPU tensor
// bytes, CUDA's peak *allocated*), which never includes the allocator's fragmentation reserve
// that the cost model adds to the GPU total.
double predicted_memory(const cost::StepCost& p, bool model_state_only) {
  const auto& mem = p.memory;
  return model_state_only ? mem.params + mem.grads + mem.optimizer : mem.total - mem.reserve;
}

// The efficiency parameters `fit` adjusts, as a vector.
constexpr int kParams = 5;
const char* kNames[kParams] = {"matmul_max", "matmul_half_dim", "memory_bound", "intra_node_link",
                               "inter_node_link"};
Eigen::VectorXd get_params(const Efficiency& e) {
  Eigen::VectorXd v(kParams);
  v << e.matmul_max, e.matmul_half_dim, e.memory_bound, e.intra_node_link, e.inter_node_link;
  return v;
}
void set_params(Efficiency& e, const Eigen::VectorXd& v) {
  e.matmul_max = v[0];
  e.matmul_half_dim = v[1];
  e.memory_bound = v[2];
  e.intra_node_link = v[3];
  e.inter_node_link = v[4];
}

// log(predicted / measured) step time of every run, with the cluster's efficiency set to `v`.
Eigen::VectorXd residuals(const Cluster& base, const std::vector<Measured>& runs,
                          const Eigen::VectorXd& v) {
  Cluster c = base;
  set_params(c.efficiency, v);
  Eigen::VectorXd r(runs.size());
  for (size_t i = 0; i < runs.size(); ++i) {
    const auto& p = runs[i].plan;
    double t = cost::predict_unchecked(p.model, c, p.training, p.layout).step_time_s;
    r[Eigen::Index(i)] = std::log(std::max(t, 1e-300) / runs[i].step_time_s);
  }
  return r;
}

void print_errors(const std::string& title, const Cluster& base, const std::vector<Measured>& runs,
                  const Eigen::VectorXd& v) {
  auto r = residuals(base, runs, v);
  std::cout << title << "\n";
  double ss = 0;
  for (size_t i = 0; i < runs.size(); ++i) {
    double e = std::exp(r[Eigen::Index(i)]) - 1;
    ss += e * e;
    std::cout << "  " << brief(runs[i].path, 200) << "  " << describe(runs[i].plan.layout) << "  error "
              << fmt("%+.2f%%", 100 * e) << "\n";
  }
  std::cout << "  rms error " << fmt("%.2f%%", 100 * std::sqrt(ss / double(runs.size()))) << "\n";
}

// Levenberg-Marquardt on log-parameters (keeps them positive), numerical Jacobian.
Eigen::VectorXd fit_params(const Cluster& base, const std::vector<Measured>& runs,
                           Eigen::VectorXd v0) {
  const Eigen::VectorXd lo = (Eigen::VectorXd(kParams) << 1e-4, 1e-3, 1e-4, 1e-4, 1e-4).finished();
  // The cluster file's valid ranges (model/src/cluster.cpp): efficiencies in (0, 1].
  const Eigen::VectorXd hi = (Eigen::VectorXd(kParams) << 1.0, 1e6, 1.0, 1.0, 1.0).finished();
  auto clamp = [&](Eigen::VectorXd x) { return x.cwiseMax(lo.array().log().matrix()).cwiseMin(hi.array().log().matrix()); };
  Eigen::VectorXd x = clamp(v0.cwiseMax(lo).array().log().matrix());
  auto res = [&](const Eigen::VectorXd& lx) { return residuals(base, runs, lx.array().exp().matrix()); };
  Eigen::VectorXd r = res(x);
  double cost = r.squaredNorm(), lambda = 1e-3;
  for (int it = 0; it < 200 && cost > 1e-26; ++it) {
    Eigen::MatrixXd J(r.size(), kParams);
    for (int k = 0; k < kParams; ++k) {
      Eigen::VectorXd xp = x;
      double h = 1e-6;
      xp[k] += h;
      J.col(k) = (res(xp) - r) / h;
    }
    Eigen::MatrixXd A = J.transpose() * J;
    Eigen::VectorXd g = J.transpose() * r;
    bool improved = false;
    for (int tries = 0; tries < 20 && !improved; ++tries) {
      Eigen::MatrixXd D = A;
      for (int k = 0; k < kParams; ++k) D(k, k) += lambda * (A(k, k) + 1e-12);
      Eigen::VectorXd step = D.ldlt().solve(-g);
      Eigen::VectorXd xn = clamp(x + step);
      Eigen::VectorXd rn = res(xn);
      if (rn.squaredNorm() < cost) {
        x = xn, r = rn, cost = rn.squaredNorm();
        lambda = std::max(lambda / 3, 1e-12);
        improved = true;
      } else {
        lambda *= 4;
      }
    }
    if (!improved) break;
  }
  return x.array().exp().matrix();
}

}  // namespace

void add_compare_commands(CLI::App& app) {
  struct CompareOpts {
    std::string plan, measured, cluster, stat = "mean";
    bool json = false;
  };
  auto o = std::make_shared<CompareOpts>();
  auto* cmp = app.add_subcommand("compare", "Predicted vs measured step time, tokens/s, MFU and "
                                            "memory per rank; error = (predicted - measured) / measured");
  cmp->add_option("--plan", o->plan, "plan.json (default: the plan inside measured.json)");
  cmp->add_option("--measured", o->measured, "measured.json from `parplan run`")->required();
  cmp->add_option("--cluster", o->cluster, "predict with this cluster file (e.g. calibrated)");
  cmp->add_flag("--json", o->json, "print JSON");
  cmp->add_option("--stat", o->stat, "measured step time: mean | median | min over the steps")
      ->check(CLI::IsMember({"mean", "median", "min"}))->capture_default_str();
  cmp->callback([o] {
    auto m = load_measured(o->measured, o->stat);
    std::vector<std::string> warnings;
    if (o->plan.empty() && !m.has_plan)
      throw Error("'" + brief(o->measured, 200) + "' holds no plan; pass --plan");
    Plan plan = o->plan.empty() ? m.plan : load_plan(o->plan, &warnings);
    if (m.has_plan && !o->plan.empty()) {  // a prediction for another run is no comparison
      std::string differs;
      if (to_json(plan.model) != to_json(m.plan.model)) differs += " model";
      if (to_json(plan.layout) != to_json(m.plan.layout)) differs += " layout";
      if (plan.training.global_batch != m.plan.training.global_batch ||
          plan.training.seq_len != m.plan.training.seq_len)
        differs += " batch";
      if (!differs.empty())
        throw Error("--plan and the plan the run measured differ in:" + differs + " ('" +
                    brief(plan.model.name) + "' " + describe(plan.layout) + " vs '" +
                    brief(m.plan.model.name) + "' " + describe(m.plan.layout) +
                    "); pass the plan the run used, or leave --plan out");
    }
    if (!o->cluster.empty()) plan.cluster = load_cluster(o->cluster, &warnings);
    print_warnings(warnings);
    auto p = cost::predict(plan.model, plan.cluster, plan.training, plan.layout);
    auto row = [](double pred, double meas) {
      return nlohmann::json{{"predicted", pred}, {"measured", meas},
                            {"error", meas != 0 ? nlohmann::json((pred - meas) / meas) : nlohmann::json()}};
    };
    nlohmann::json j = {
        {"step_time_s", row(p.step_time_s, m.step_time_s)},
        {"tokens_per_s", row(p.tokens_per_s, m.tokens_per_s)},
        {"mfu", row(p.mfu, m.mfu)},
        {"memory_per_rank_bytes", row(predicted_memory(p, m.model_state_only), m.memory_bytes)},
        {"memory_kind", m.model_state_only ? "model_state" : "total"},
        {"measured_memory_kind", m.memory_kind},
        {"layout", describe(plan.layout)}};
    if (o->json) {
      std::cout << j.dump(2) << "\n";
      return;
    }
    std::cout << describe(plan.layout) << " on " << plan.cluster.name << "\n";
    std::cout << padded("", 22) << padded("predicted", 16) << padded("measured", 16) << "   error\n";
    auto line = [&](const std::string& name, const nlohmann::json& r, auto show) {
      std::cout << padded(name, 22, true) << padded(show(r["predicted"].get<double>()), 16)
                << padded(show(r["measured"].get<double>()), 16) << "   "
                << (r["error"].is_number() ? fmt("%+.1f%%", 100 * r["error"].get<double>())
                                           : std::string("n/a (not measured)"))
                << "\n";
    };
    line("step time", j["step_time_s"], [](double v) { return secs(v); });
    line("tokens/s", j["tokens_per_s"], [](double v) { return fmt("%.0f", v); });
    line("MFU", j["mfu"], [](double v) { return pct(v); });
    line(m.model_state_only ? "model state / rank"
         : m.memory_kind == "cpu_peak_tensor_bytes" ? "peak tensors / rank"
                                                     : "memory / rank",
         j["memory_per_rank_bytes"],
         [](double v) { return fmt("%.0f B", v); });
  });

  struct FitOpts {
    std::string cluster, out, stat = "mean";
    std::vector<std::string> measured;
  };
  auto f = std::make_shared<FitOpts>();
  auto* fit = app.add_subcommand("fit", "Least-squares fit of the cluster file's efficiency "
                                        "parameters to measured step times");
  fit->add_option("--cluster", f->cluster, "cluster file to start from")->required();
  fit->add_option("--measured", f->measured, "measured.json files (each holds its plan)")
      ->required()->expected(1, -1);
  fit->add_option("--out", f->out, "fitted cluster file to write")->required();
  fit->add_option("--stat", f->stat, "measured step time: mean | median | min over the steps")
      ->check(CLI::IsMember({"mean", "median", "min"}))->capture_default_str();
  fit->callback([f, fit] {
    std::vector<std::string> inputs = f->measured;
    inputs.push_back(f->cluster);
    check_out(fit, "--out", f->out, inputs, false);  // before the fit
    std::vector<std::string> warnings;
    Cluster base = load_cluster(f->cluster, &warnings);
    print_warnings(warnings);
    std::vector<Measured> runs;
    for (auto& path : f->measured) {
      runs.push_back(load_measured(path, f->stat));
      if (!runs.back().has_plan)
        throw Error("'" + brief(path, 200) + "' holds no plan (fit needs the plan each run used); "
                    "pass measured.json files written by `parplan run`");
      if (runs.back().plan.layout.gpus() > base.total_gpus())
        throw Error("'" + brief(path, 200) + "': its layout needs more GPUs than " + brief(f->cluster, 200) + " has");
    }
    if (runs.size() < size_t(kParams))
      std::cerr << "warning: " << runs.size() << " runs for " << kParams
                << " parameters: the fit is underdetermined; parameters the runs do not "
                   "constrain may move far (give runs that differ in shape, TP, DP and nodes)\n";
    auto v0 = get_params(base.efficiency);
    print_errors("before (" + f->cluster + "):", base, runs, v0);
    auto v = fit_params(base, runs, v0);
    print_errors("after:", base, runs, v);
    for (int k = 0; k < kParams; ++k)
      std::cout << "  " << padded(kNames[k], 18, true) << fmt("%.6g", v0[k]) << " -> " << fmt("%.6g", v[k]) << "\n";
    Cluster out = base;
    set_params(out.efficiency, v);
    emit(f->out, to_json(out).dump(1));
    std::cout << "wrote " << f->out << "\n";
  });
}

}  // namespace parplan::cli
