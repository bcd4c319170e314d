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
  EXPECT_LE(rep.iteration_mape, 0.05);
  EXPECT_LE(rep.iteration_max_abs_error, 0.10);
  EXPECT_LE(rep.params_max_abs_error, 0.02);
  EXPECT_LE(rep.activation_max_abs_error, 0.05);
}
