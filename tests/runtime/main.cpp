// runtime_test: GoogleTest; one spawned rank when called as `runtime_test worker`; a launcher in its
// own process when called as `runtime_test launch '<RunOptions JSON>'` (exit codes as parplan's).
// The fault hooks live here only (PARPLAN_FAULT_HOOKS is defined on this test target): the release
// `parplan` binary never reads PARPLAN_FAULT_*.
#include <signal.h>
#include <sys/resource.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <thread>

#include <gtest/gtest.h>

#include "parplan/model/error.hpp"
#include "parplan/runtime/fault_hooks.hpp"
#include "parplan/runtime/run.hpp"

#ifndef PARPLAN_FAULT_HOOKS
#error "runtime_test installs the fault hooks; build it with PARPLAN_FAULT_HOOKS"
#endif

namespace {

// PARPLAN_FAULT_HANG=R: rank R never joins. PARPLAN_FAULT_KILL=R:S: rank R SIGKILLs itself after
// step S. PARPLAN_FAULT_FSIZE=R:B: rank R cannot write files beyond B bytes when it checkpoints
// (RLIMIT_FSIZE: writes fail with EFBIG, as a full disk fails them with ENOSPC).
void test_fault_hook(parplan::runtime::FaultPoint p, int rank, int64_t step) {
  using parplan::runtime::FaultPoint;
  int r = -1;
  long long v = -1;
  if (p == FaultPoint::BeforeJoin) {
    if (const char* h = std::getenv("PARPLAN_FAULT_HANG"); h && std::atoi(h) == rank)
      std::this_thread::sleep_for(std::chrono::hours(1));
  } else if (p == FaultPoint::AfterTrainStep) {
    const char* f = std::getenv("PARPLAN_FAULT_KILL");
    if (f && std::sscanf(f, "%d:%lld", &r, &v) == 2 && r == rank && v == step) raise(SIGKILL);
  } else if (p == FaultPoint::BeforeCheckpoint) {
    const char* f = std::getenv("PARPLAN_FAULT_FSIZE");
    if (f && std::sscanf(f, "%d:%lld", &r, &v) == 2 && r == rank) {
      signal(SIGXFSZ, SIG_IGN);
      struct rlimit lim {rlim_t(v), rlim_t(v)};
      setrlimit(RLIMIT_FSIZE, &lim);
    }
  }
}

int launch(const char* options_json) {
  try {
    auto o = parplan::runtime::run_options_from_json(nlohmann::json::parse(options_json));
    parplan::runtime::run(o, "/proc/self/exe", {"worker"});
    return 0;
  } catch (const parplan::Interrupted& e) {
    std::cerr << "error: " << e.what() << "\n";
    return 128 + e.signal;
  } catch (const parplan::EnvironmentError& e) {
    std::cerr << "error: " << e.what() << "\n";
    return 3;
  } catch (const parplan::Error& e) {
    std::cerr << "error: " << e.what() << "\n";
    return 2;
  }
}

}  // namespace

int main(int argc, char** argv) {
  parplan::runtime::fault_hook = test_fault_hook;
  if (argc > 1 && std::strcmp(argv[1], "worker") == 0) return parplan::runtime::worker_main();
  if (argc > 2 && std::strcmp(argv[1], "launch") == 0) return launch(argv[2]);
  ::testing::InitGoogleTest(&argc, argv);
  return RUN_ALL_TESTS();
}
