#include <gtest/gtest.h>

#include <cmath>
#include <map>

#include "parplan/cost/corpus_fit.hpp"
#include "parplan/cost/floors.hpp"
#include "parplan/model/io.hpp"

using namespace parplan;
using namespace parplan::cost;

namespace {
// A row whose "measurement" is the prediction on a cluster whose large GEMMs reach 0.70 of peak
// (0.8 of the preset's default): a fit must find that slower GPU.
CorpusRun synthetic(const std::string& source, const std::string& id, int64_t batch, int32_t mb) {
  CorpusRun r;
  r.source = source;
  r.id = id;
  r.fit = true;
  r.model = load_model("megatron-22b");
  r.cluster = load_cluster("dgx-a100-80g");
  r.training = load_training(R"({"global_batch": )" + std::to_string(batch) + R"(, "seq_len": 2048})");
  r.layout = load_layout(R"({"dp": 1, "tp": 8, "pp": 1, "recompute": "full", "micro_batch": )" +
                         std::to_string(mb) + "}");
  Cluster slow = r.cluster;
  slow.efficiency.matmul_max = 0.8 * r.cluster.efficiency.matmul_max;
  r.figure = Figure::StepTime;
  r.measured = predict(r.model, slow, r.training, r.layout).step_time_s;
  return r;
}
}  // namespace

std::vector<CorpusRun> rows_of(const std::string& source, int n) {
  std::vector<CorpusRun> out;
  for (int i = 0; i < n; ++i)
    out.push_back(synthetic(source, std::to_string(i), 4 << (i % 4), int32_t(1) << (i % 3)));
  return out;
}

TEST(CorpusFit, RecoversTheEfficiencyThatMadeTheMeasurements) {
  // Twelve rows against one prior per parameter (weight 1 each): the data win.
  const std::vector<CorpusRun> rows = rows_of("a", 12);
  std::vector<const CorpusRun*> ptrs;
  for (const auto& r : rows) ptrs.push_back(&r);
  const double before = std::fabs(std::log(step_ratio(
      predict(rows[0].model, rows[0].cluster, rows[0].training, rows[0].layout), rows[0])));
  EXPECT_GT(before, 0.10);  // the default efficiency is ~15% off these rows
  const FitResult f = fit_efficiencies(ptrs, fit_parameters(ptrs));
  EXPECT_LT(f.rms_log_after, 0.03);
  EXPECT_LT(f.rms_log_after, f.rms_log_before / 4);
}

TEST(CorpusFit, LeaveOneSourceOutPredictsTheHeldOutSourceFromTheOthers) {
  // Two fit sources measured on the same slow GPU and a non-fit source: holding "a" out, the fit
  // on "b" alone still predicts "a" (same physics); "c" is never fitted on.
  std::vector<CorpusSource> corpus(3);
  corpus[0] = {"a", "A", "", true, rows_of("a", 8)};
  corpus[1] = {"b", "B", "", true, rows_of("b", 8)};
  corpus[2] = {"c", "C", "", false, {synthetic("c", "1", 32, 4)}};
  corpus[2].runs[0].fit = false;
  const CorpusRun& r0 = corpus[0].runs[0];
  const double unfitted =
      std::fabs(step_ratio(predict(r0.model, r0.cluster, r0.training, r0.layout), r0) - 1);
  const LosoReport rep = leave_one_source_out(corpus);
  ASSERT_EQ(rep.held_out, (std::vector<std::string>{"a", "b"}));
  ASSERT_EQ(rep.sources.size(), 3u);
  EXPECT_EQ(rep.fits[0].rows, 8u);  // without a: b's rows
  EXPECT_EQ(rep.full.rows, 16u);    // c is not a fit source
  EXPECT_GT(unfitted, 0.10);
  for (const auto& s : rep.sources)
    for (const auto& row : s.rows)
      EXPECT_LT(std::fabs(row.error), unfitted / 3) << s.id << row.run->id;
}

// The shipped defaults (examples/calibration/efficiency.json, what every preset without its own
// "efficiency" gets) are the fit on the whole corpus from the cited priors: a change to the cost
// model or the corpus that moves the fit fails here until bench/calibrate_published --write
// records the new fit.
TEST(CorpusFit, ShippedDefaultsAreTheFitOnTheWholeCorpus) {
  const auto corpus = load_embedded_corpus();
  std::vector<const CorpusRun*> rows;
  std::map<std::string, const CorpusRun*> first;  // a row per generation
  for (const auto& s : corpus)
    for (const auto& r : s.runs)
      if (r.fit) rows.push_back(&r), first.emplace(r.generation(), &r);
  const FitResult f = fit_efficiencies(rows, corpus_fit_parameters(rows));
  ASSERT_GE(first.size(), 3u);  // ampere, hopper, blackwell
  EXPECT_LT(f.rms_log_after, f.rms_log_before);
  for (size_t k = 0; k < f.params.size(); ++k) {
    const FitParameter& p = f.params[k];
    for (const auto& [gen, row] : first) {
      if (p.generation != "*" && p.generation != gen) continue;
      Cluster c = load_cluster(R"({"nodes": 1, "gpus_per_node": 8, "gpu": {"generation": ")" + gen +
                               R"(", "memory_GiB": 80, "memory_GBps": 3350, "peak_tflops": {"bf16": 989}},
                                  "intra_node": {"bandwidth_GBps": 450}})");
      c.gpu.floors.kernel_launch_s = gpu_floors(c.gpu).kernel_launch_s;
      c.gpu.floors.kernel_device_s = gpu_floors(c.gpu).kernel_device_s;
      EXPECT_NEAR(p.field(c), f.values[k], 2e-3 * f.values[k]) << gen << " " << p.name;
    }
  }
}
