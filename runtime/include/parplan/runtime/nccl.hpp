#pragma once
// The NCCL unit (parplan_nccl, built against the CUDA toolkit when PARPLAN_WITH_NCCL and the
// toolkit are present). Torch-free: it only probes what the machine offers.
#include <string>

namespace parplan::runtime {

struct NcclProbe {
  int nccl_version = 0;   // e.g. 22805 for 2.28.5; 0 when unavailable
  int cuda_devices = 0;   // visible GPUs
  std::string problem;    // why NCCL cannot be used here ("" when it can)
};
NcclProbe probe_nccl();

}  // namespace parplan::runtime
