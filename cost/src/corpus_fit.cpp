#include "parplan/cost/corpus_fit.hpp"

#include <algorithm>
#include <cmath>
#include <set>
#include <string>

#include <Eigen/Dense>

#include "parplan/cost/floors.hpp"
#include "parplan/cost/framework.hpp"

namespace parplan::cost {

namespace {
constexpr double kHuber = 0.15;  // log error beyond which a row's weight falls (outliers)
// a default moved by 10% costs as much as one row 10% off; chosen by leave-one-source-out over
// the whole corpus (0.3 / 1 / 3: LOSO MAPE 13.1 / 11.9 / 12.3%)
constexpr double kPrior = 1.0;
constexpr double kMaxHalfDim = 4096;

bool applies(const FitParameter& p, const CorpusRun& r) {
  return p.generation == "*" || p.generation == r.generation();
}

template <double Efficiency::*F>
double& efficiency(Cluster& c) {
  return c.efficiency.*F;
}
// The GPU floors, their generation default materialised first (floors.cpp).
double& kernel_launch(Cluster& c) {
  if (c.gpu.floors.kernel_launch_s < 0) c.gpu.floors.kernel_launch_s = gpu_floors(c.gpu).kernel_launch_s;
  return c.gpu.floors.kernel_launch_s;
}
double& kernel_device(Cluster& c) {
  if (c.gpu.floors.kernel_device_s < 0) c.gpu.floors.kernel_device_s = gpu_floors(c.gpu).kernel_device_s;
  return c.gpu.floors.kernel_device_s;
}

// The host costs fitted as one value for every framework that has them (floors.cpp): the
// per-expert loop's host time and the host time per module call, their generation-free default
// (the fit's shipped value) materialised first.
double& expert_loop(Cluster& c) {
  if (c.gpu.floors.expert_loop_s < 0) c.gpu.floors.expert_loop_s = shipped_expert_loop_s();
  return c.gpu.floors.expert_loop_s;
}
double& module_call(Cluster& c) {
  if (c.gpu.floors.module_call_s < 0) c.gpu.floors.module_call_s = shipped_module_call_s();
  return c.gpu.floors.module_call_s;
}

// Such a host cost's prior: the framework's (examples/frameworks/*.json host.*) of the first MoE
// row whose framework has it (0: no row it prices, not fitted: only rows with MoE layers are
// host-bound enough to inform it); its start otherwise: the fit's shipped value, when there is one.
double host_cost_initial(const std::vector<const CorpusRun*>& rows,
                         double FrameworkBehaviour::Host::*cost, double shipped, bool prior) {
  for (const auto* r : rows) {
    if (!r->model.is_moe()) continue;
    const double v = framework_behaviour(r->training).host.*cost;
    if (v > 0) return prior || !(shipped > 0) ? v : shipped;
  }
  return 0.0;
}
double expert_loop_initial(const std::vector<const CorpusRun*>& rows, bool prior) {
  return host_cost_initial(rows, &FrameworkBehaviour::Host::expert_loop_s, shipped_expert_loop_s(),
                           prior);
}
double module_call_initial(const std::vector<const CorpusRun*>& rows, bool prior) {
  return host_cost_initial(rows, &FrameworkBehaviour::Host::module_call_s, shipped_module_call_s(),
                           prior);
}

Cluster with_values(const CorpusRun& r, const std::vector<FitParameter>& ps,
                    const Eigen::VectorXd& x) {
  Cluster c = r.cluster;
  for (size_t k = 0; k < ps.size(); ++k)
    if (applies(ps[k], r)) ps[k].field(c) = std::exp(x[Eigen::Index(k)]);
  return c;
}

Eigen::VectorXd log_errors(const std::vector<const CorpusRun*>& rows,
                           const std::vector<FitParameter>& ps, const Eigen::VectorXd& x) {
  Eigen::VectorXd e(Eigen::Index(rows.size()));
  for (size_t i = 0; i < rows.size(); ++i) {
    const CorpusRun& r = *rows[i];
    const StepCost s = predict_unchecked(r.model, with_values(r, ps, x), r.training, r.layout);
    e[Eigen::Index(i)] = std::log(std::max(step_ratio(s, r), 1e-9));
  }
  return e;
}

double rms(const Eigen::VectorXd& v) {
  return v.size() ? std::sqrt(v.squaredNorm() / double(v.size())) : 0.0;
}

void clamp(const std::vector<FitParameter>& ps, Eigen::VectorXd& x) {
  for (size_t k = 0; k < ps.size(); ++k) {
    const double hi = ps[k].fraction ? 0.0 : std::log(ps[k].max > 0 ? ps[k].max : kMaxHalfDim);
    const double lo = ps[k].max > 0 ? std::log(ps[k].max * 1e-3) : std::log(1e-3);
    x[Eigen::Index(k)] = std::min(x[Eigen::Index(k)], hi);
    x[Eigen::Index(k)] = std::max(x[Eigen::Index(k)], lo);
  }
}
}  // namespace

std::vector<FitParameter> fit_parameters(const std::vector<const CorpusRun*>& rows) {
  std::set<std::string> gens;
  for (const auto* r : rows) gens.insert(r->generation());
  std::vector<FitParameter> out;
  for (const auto& g : gens) {
    out.push_back({g, "matmul_max", &efficiency<&Efficiency::matmul_max>, true, 0});
    out.push_back({g, "matmul_half_dim", &efficiency<&Efficiency::matmul_half_dim>, false, 0});
    out.push_back({g, "memory_bound", &efficiency<&Efficiency::memory_bound>, true, 0});
    out.push_back({g, "intra_node_link", &efficiency<&Efficiency::intra_node_link>, true, 0});
    out.push_back({g, "inter_node_link", &efficiency<&Efficiency::inter_node_link>, true, 0});
    // Seconds, at most 50 us per kernel (a launch is a few us: floors.cpp).
    out.push_back({g, "kernel_launch_us", &kernel_launch, false, 0, 50e-6, 1e-6});
    out.push_back({g, "kernel_device_us", &kernel_device, false, 0, 50e-6, 1e-6});
  }
  out.push_back({"*", "overlap_slowdown", &efficiency<&Efficiency::overlap_slowdown>, true, 0});
  for (auto& p : out)
    for (const auto* r : rows)
      if (applies(p, *r)) {
        Cluster c = r->cluster;
        p.initial = p.field(c);
        break;
      }
  // Seconds per local expert, call and pass: at most 1 ms (a few eager operators: floors.cpp).
  if (expert_loop_initial(rows, true) > 0)
    out.push_back({"*", "expert_loop_us", &expert_loop, false, expert_loop_initial(rows, false),
                   1e-3, 1e-6, true});
  // Seconds per module call and pass: at most 1 ms (a TE module's Python is ~0.1 ms: floors.cpp).
  if (module_call_initial(rows, true) > 0)
    out.push_back({"*", "module_call_us", &module_call, false, module_call_initial(rows, false),
                   1e-3, 1e-6, true});
  return out;
}

std::vector<FitParameter> corpus_fit_parameters(const std::vector<const CorpusRun*>& rows) {
  std::vector<FitParameter> out = fit_parameters(rows);
  // The same parameters started from their cited priors (prior_efficiency, floors.cpp), not from
  // the clusters' shipped defaults, which are this fit's result.
  for (auto& p : out) {
    if (p.field == &expert_loop) {
      p.initial = expert_loop_initial(rows, true);
      continue;
    }
    if (p.field == &module_call) {
      p.initial = module_call_initial(rows, true);
      continue;
    }
    for (const auto* r : rows)
      if (applies(p, *r)) {
        Cluster c = r->cluster;
        c.efficiency = prior_efficiency(c.gpu);
        c.gpu.floors.kernel_launch_s = prior_kernel_launch_s(c.gpu);
        c.gpu.floors.kernel_device_s = prior_kernel_device_s(c.gpu);
        p.initial = p.field(c);
        break;
      }
  }
  return out;
}

FitResult fit_efficiencies(const std::vector<const CorpusRun*>& rows,
                           std::vector<FitParameter> params, double prior) {
  const std::vector<double> weights(params.size(), prior < 0 ? kPrior : prior);
  return fit_efficiencies(rows, std::move(params), weights);
}

FitResult fit_efficiencies(const std::vector<const CorpusRun*>& rows,
                           std::vector<FitParameter> params, const std::vector<double>& prior) {
  FitResult f;
  f.rows = rows.size();
  Eigen::VectorXd x0(Eigen::Index(params.size()));
  for (size_t k = 0; k < params.size(); ++k)
    x0[Eigen::Index(k)] = std::log(
        std::max(params[k].initial, params[k].max > 0 ? params[k].max * 1e-3 : 1e-3));
  f.params = std::move(params);
  const auto& ps = f.params;
  const Eigen::Index n = Eigen::Index(rows.size()), p = Eigen::Index(ps.size());
  // Iteratively reweighted: the Huber weights are set from the residuals at the start of each
  // iteration and held while the Levenberg-Marquardt step is found.
  // A Blackwell parameter's prior is its Hopper value as fitted, when both are fitted: their
  // cited priors are the same Hopper-class values (prior_efficiency, floors.cpp), so the class's
  // measured rows inform a generation until its own rows say otherwise (prior ratio kept).
  std::vector<Eigen::Index> anchor(ps.size(), -1);
  for (size_t k = 0; k < ps.size(); ++k)
    if (ps[k].generation == "blackwell")
      for (size_t j = 0; j < ps.size(); ++j)
        if (ps[j].generation == "hopper" && std::string(ps[j].name) == ps[k].name)
          anchor[k] = Eigen::Index(j);
  auto stacked = [&](const Eigen::VectorXd& x, const Eigen::VectorXd& w) {
    Eigen::VectorXd r(n + p);
    r.head(n) = log_errors(rows, ps, x).cwiseProduct(w);
    for (Eigen::Index k = 0; k < p; ++k)
      r[n + k] = prior[size_t(k)] * (anchor[size_t(k)] >= 0
                                         ? x[k] - x0[k] - (x[anchor[size_t(k)]] - x0[anchor[size_t(k)]])
                                         : x[k] - x0[k]);
    return r;
  };
  auto weights = [&](const Eigen::VectorXd& e) {
    Eigen::VectorXd w(n);
    for (Eigen::Index i = 0; i < n; ++i)
      w[i] = std::fabs(e[i]) <= kHuber ? 1.0 : std::sqrt(kHuber / std::fabs(e[i]));
    return w;
  };
  Eigen::VectorXd x = x0;
  f.rms_log_before = rms(log_errors(rows, ps, x));
  // A parameter that only binds past a point (host time behind the device time) has no gradient
  // at a prior below it: start it from the best point of a grid, the prior's weight included.
  for (Eigen::Index k = 0; k < p && n > 0; ++k) {
    if (!ps[size_t(k)].grid) continue;
    double best = stacked(x, weights(log_errors(rows, ps, x))).squaredNorm();
    const double start = x[k];
    for (double m : {2.0, 4.0, 8.0, 16.0, 32.0}) {
      Eigen::VectorXd xg = x;
      xg[k] = start + std::log(m);
      clamp(ps, xg);
      const double v = stacked(xg, weights(log_errors(rows, ps, xg))).squaredNorm();
      if (v < best) best = v, x = xg;
    }
  }
  double lambda = 1e-2;
  for (f.iterations = 0; f.iterations < 50 && n > 0; ++f.iterations) {
    const Eigen::VectorXd w = weights(log_errors(rows, ps, x));
    const Eigen::VectorXd r = stacked(x, w);
    Eigen::MatrixXd J(n + p, p);
    for (Eigen::Index k = 0; k < p; ++k) {
      Eigen::VectorXd xk = x;
      xk[k] += 1e-4;
      J.col(k) = (stacked(xk, w) - r) / 1e-4;
    }
    const Eigen::MatrixXd JtJ = J.transpose() * J;
    const Eigen::VectorXd g = J.transpose() * r;
    double gain = 0;
    for (int tries = 0; tries < 10; ++tries) {
      Eigen::MatrixXd A = JtJ;
      A.diagonal() += lambda * JtJ.diagonal() + Eigen::VectorXd::Constant(p, 1e-9);
      Eigen::VectorXd xn = x - A.ldlt().solve(g);
      clamp(ps, xn);
      const Eigen::VectorXd rn = stacked(xn, w);
      if (rn.squaredNorm() < r.squaredNorm()) {
        gain = r.squaredNorm() - rn.squaredNorm();
        x = xn;
        lambda = std::max(lambda / 3, 1e-7);
        break;
      }
      lambda *= 4;
    }
    if (gain < 1e-10 * std::max(1.0, r.squaredNorm())) break;
  }
  f.initial.resize(ps.size());
  f.values.resize(ps.size());
  for (size_t k = 0; k < ps.size(); ++k) {
    f.initial[k] = std::exp(x0[Eigen::Index(k)]);
    f.values[k] = std::exp(x[Eigen::Index(k)]);
  }
  f.rms_log_after = rms(log_errors(rows, ps, x));
  return f;
}

Cluster fitted_cluster(const CorpusRun& r, const FitResult& f) {
  Eigen::VectorXd x(Eigen::Index(f.values.size()));
  for (size_t k = 0; k < f.values.size(); ++k) x[Eigen::Index(k)] = std::log(f.values[k]);
  return with_values(r, f.params, x);
}

namespace {
std::vector<const CorpusRun*> fit_rows(const std::vector<CorpusSource>& corpus,
                                       const std::string& except) {
  std::vector<const CorpusRun*> rows;
  for (const auto& s : corpus)
    if (s.fit_source && s.id != except)
      for (const auto& r : s.runs)
        if (r.fit) rows.push_back(&r);
  return rows;
}

SourceReport predict_source(const CorpusSource& s, const FitResult& f) {
  SourceReport rep;
  rep.id = s.id;
  rep.fit_source = s.fit_source;
  for (const auto& run : s.runs) {
    RowResult row;
    row.run = &run;
    row.predicted = predict(run.model, fitted_cluster(run, f), run.training, run.layout);
    row.error = step_ratio(row.predicted, run) - 1;
    rep.rows.push_back(row);
  }
  summarize(rep);
  return rep;
}
}  // namespace

LosoReport leave_one_source_out(const std::vector<CorpusSource>& corpus) {
  LosoReport out;
  const auto all = fit_rows(corpus, "");
  // One parameter set for every fit, so the held-out source's generation keeps its parameters
  // (at their defaults when no other source constrains them).
  const auto params = corpus_fit_parameters(all);
  out.full = fit_efficiencies(all, params);
  for (const auto& s : corpus) {
    if (s.fit_source && std::any_of(s.runs.begin(), s.runs.end(), [](const auto& r) { return r.fit; })) {
      out.held_out.push_back(s.id);
      out.fits.push_back(fit_efficiencies(fit_rows(corpus, s.id), params));
      out.sources.push_back(predict_source(s, out.fits.back()));
    } else {
      out.sources.push_back(predict_source(s, out.full));
    }
  }
  return out;
}

}  // namespace parplan::cost
