#include "parplan/sim/worker.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <thread>

#include "parplan/model/error.hpp"

using namespace parplan;

TEST(Worker, ReturnsTheChildsJsonAndRethrowsItsErrors) {
  auto j = sim::run_in_child([] { return nlohmann::json{{"x", 42}}; }, 10);
  EXPECT_EQ(j["x"], 42);
  EXPECT_THROW(sim::run_in_child([]() -> nlohmann::json { throw Error("bad plan"); }, 10), Error);
}

TEST(Worker, KillsAChildThatRunsPastItsWallTimeLimitWithAMessage) {
  const auto t0 = std::chrono::steady_clock::now();
  try {
    sim::run_in_child(
        [] {
          std::this_thread::sleep_for(std::chrono::seconds(30));
          return nlohmann::json::object();
        },
        0.3);
    FAIL() << "expected a timeout";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("wall-time limit"), std::string::npos) << e.what();
  }
  EXPECT_LT(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(), 5.0);
}

TEST(Worker, RunsTasksInParallelAndKeepsTheirOrder) {
  std::vector<sim::ChildTask> tasks;
  for (int i = 0; i < 5; ++i) tasks.push_back([i] { return nlohmann::json{{"i", i}}; });
  auto r = sim::run_in_children(tasks, 10, 2);
  ASSERT_EQ(r.size(), 5u);
  for (int i = 0; i < 5; ++i) EXPECT_EQ(r[size_t(i)]["i"], i);
}
