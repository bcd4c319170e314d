#pragma once
// Fault injection for the tests only. The release binary never sets the hook, so nothing reads
// PARPLAN_FAULT_* there; tests/runtime/main.cpp (built with PARPLAN_FAULT_HOOKS on the test
// target only) installs one that kills a rank, hangs it or fills its disk at a named point.
#include <cstdint>

namespace parplan::runtime {

enum class FaultPoint {
  BeforeJoin,        // before the rank joins the rendezvous
  AfterTrainStep,    // after step `step`'s forward/backward
  BeforeCheckpoint,  // before the rank writes the checkpoint of step `step`
};
using FaultHook = void (*)(FaultPoint point, int rank, int64_t step);

// nullptr unless a test binary installs one.
extern FaultHook fault_hook;
inline void fault_point(FaultPoint p, int rank, int64_t step) {
  if (fault_hook) fault_hook(p, rank, step);
}

}  // namespace parplan::runtime
