// NCCL probe compiled against the CUDA toolkit: version and device count, never aborting.
#include <cuda_runtime_api.h>
#include <nccl.h>

#include "parplan/runtime/nccl.hpp"

namespace parplan::runtime {

NcclProbe probe_nccl() {
  NcclProbe p;
  int v = 0;
  if (ncclGetVersion(&v) == ncclSuccess) p.nccl_version = v;
  int n = 0;
  cudaError_t e = cudaGetDeviceCount(&n);
  if (e != cudaSuccess) {
    p.problem = std::string("no usable GPU (cudaGetDeviceCount: ") + cudaGetErrorString(e) + ")";
    return p;
  }
  p.cuda_devices = n;
  if (n == 0) p.problem = "no GPU visible";
  return p;
}

}  // namespace parplan::runtime
