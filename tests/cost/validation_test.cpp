#include <gtest/gtest.h>

#include "parplan/cost/validation.hpp"
#include "parplan/model/io.hpp"

using namespace parplan;

// Regression guard for the published validation (bench/validate prints the full table).
TEST(PublishedValidation, KorthikantiIterationTimesAndMemoryAreWithinTolerance) {
  const std::string file = std::string(PARPLAN_SHARED_DIR) + "/data/published/korthikanti2022.json";
  auto pub = parse_json_text(read_file(file), file);
  auto rep = cost::validate_published(pub, load_cluster("dgx-a100-80g"));
  ASSERT_EQ(rep.iterations.size(), 8u);
  ASSERT_EQ(rep.memory.size(), 8u);
  // The shipped A100 efficiencies are the fit on every A100 source of the corpus
  // (examples/calibration/efficiency.json), which the production runs (MegaScale, Smith et al.,
  // OPT) pull below Korthikanti's Selene: 7.0% MAPE, worst 13.0% (530B full recompute) on this
  // tree; fitted on Korthikanti alone it was 2.6%.
  EXPECT_LE(rep.iteration_mape, 0.08);
  EXPECT_LE(rep.iteration_max_abs_error, 0.14);
  EXPECT_LE(rep.params_max_abs_error, 0.02);
  EXPECT_LE(rep.activation_max_abs_error, 0.05);
}
