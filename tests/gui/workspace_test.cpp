#include "workspace.hpp"

#include <gtest/gtest.h>

#include <filesystem>

#include "measured.hpp"
#include "parplan/cost/step.hpp"
#include "parplan/model/io.hpp"

namespace parplan::gui {
namespace {

nlohmann::json measured_json(double step_s) {
  Plan p;
  p.model = load_model("shakespeare-char");
  p.cluster = load_cluster("dgx-a100-80g");
  p.training = load_training("shakespeare-char");
  p.layout.dp = 4;
  return {{"mean_step_time_s", step_s},
          {"tokens_per_s", 64 * 256 / step_s},
          {"mfu", 0.1},
          {"plan", parplan::to_json(p)}};
}

TEST(Measured, ReadsTheRunAndPredictsItsPlan) {
  MeasuredRun r = measured_from_json(measured_json(0.5), "m.json");
  EXPECT_DOUBLE_EQ(r.measured_step_s, 0.5);
  cost::StepCost p = cost::predict(r.plan.model, r.plan.cluster, r.plan.training, r.plan.layout);
  EXPECT_DOUBLE_EQ(r.predicted_step_s, p.step_time_s);
  EXPECT_DOUBLE_EQ(r.step_error(), (p.step_time_s - 0.5) / 0.5);
}

TEST(Measured, ReadsARunThatParplanImportWrote) {
  // The corpus format `parplan import` writes, with a tokens/s/GPU figure (torchtitan's tps).
  const nlohmann::json run = {
      {"id", "titan"}, {"source", "parplan import of 'titan.log'"}, {"fit_source", true},
      {"runs", {{{"id", "titan"}, {"model", "llama3-8b"}, {"cluster", "dgx-h100-80g"}, {"gpus", 8},
                 {"framework", "fsdp2"},
                 {"training", {{"global_batch", 8}, {"seq_len", 8192}}},
                 {"layout", {{"dp", 8}, {"zero", 3}, {"recompute", "selective"}}},
                 {"measured", {{"tokens_per_s_per_gpu", 7461.0}}}}}}};
  MeasuredRun r = measured_from_json(run, "titan.json");
  EXPECT_EQ(r.plan.layout.dp, 8);
  EXPECT_NEAR(r.measured_step_s, 8.0 * 8192 / (7461.0 * 8), 1e-9);
  EXPECT_NEAR(r.measured_tokens_per_s, 7461.0 * 8, 1e-6);
  cost::StepCost p = cost::predict(r.plan.model, r.plan.cluster, r.plan.training, r.plan.layout);
  EXPECT_DOUBLE_EQ(r.predicted_step_s, p.step_time_s);
}

TEST(Measured, MissingStepTimeNamesTheField) {
  auto j = measured_json(0.5);
  j.erase("mean_step_time_s");
  try {
    measured_from_json(j, "m.json");
    FAIL() << "expected parplan::Error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("mean_step_time_s"), std::string::npos) << e.what();
  }
}

TEST(Workspace, RoundTripsInputsLayoutAndMeasurements) {
  Workspace w;
  w.model = load_model("llama3-8b");
  w.cluster = load_cluster("dgx-h100-80g");
  w.training = load_training("llama3-8k");
  w.gpus = 64;
  w.layout.tp = 4;
  w.layout.pp = 2;
  w.layout.dp = 8;
  w.layout.zero = 2;
  w.layout.recompute = Recompute::Full;
  w.measured.push_back(measured_from_json(measured_json(0.25), "a.json"));
  auto path = std::filesystem::temp_directory_path() / "parplan_gui_workspace_test.json";
  save_workspace(w, path.string());
  Workspace r = load_workspace(path.string());
  std::filesystem::remove(path);
  EXPECT_EQ(r.model.name, "llama3-8b");
  EXPECT_EQ(r.model.kv_heads, w.model.kv_heads);
  EXPECT_EQ(r.cluster.name, w.cluster.name);
  EXPECT_EQ(r.training.seq_len, w.training.seq_len);
  EXPECT_EQ(r.gpus, 64);
  EXPECT_EQ(r.layout, w.layout);
  ASSERT_EQ(r.measured.size(), 1u);
  EXPECT_EQ(r.measured[0].source, "a.json");
  EXPECT_DOUBLE_EQ(r.measured[0].measured_step_s, 0.25);
}

TEST(Workspace, RejectsOtherJsonWithAMessage) {
  EXPECT_THROW(workspace_from_json(nlohmann::json{{"layers", 2}}), Error);
}

}  // namespace
}  // namespace parplan::gui
