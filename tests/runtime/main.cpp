// runtime_test: GoogleTest, or one spawned rank when called as `runtime_test worker`.
#include <cstring>

#include <gtest/gtest.h>

#include "parplan/runtime/run.hpp"

int main(int argc, char** argv) {
  if (argc > 1 && std::strcmp(argv[1], "worker") == 0) return parplan::runtime::worker_main();
  ::testing::InitGoogleTest(&argc, argv);
  return RUN_ALL_TESTS();
}
