#pragma once
// Where a rank computes: the CPU (Gloo), or cuda:LOCAL_RANK when this LibTorch has CUDA, a GPU
// is visible and the backend is NCCL. Every CUDA-only call (device, caching-allocator stats) is
// in device.cpp, compiled with PARPLAN_TORCH_CUDA only against a CUDA LibTorch.
#include <string>

#include <torch/torch.h>

namespace parplan::runtime {

// Whether this build's LibTorch has CUDA and c10d's NCCL process group (compile time).
bool torch_has_cuda_nccl();
// Whether a GPU is visible for local rank `local_rank` (false without CUDA); `why` when not.
bool cuda_usable(int local_rank, std::string* why);

// Selects the device of this process: cuda:local_rank (and makes it current) or the CPU.
void select_device(bool cuda, int local_rank);
torch::Device device();                 // the selected device (the CPU until select_device)
torch::TensorOptions device_options();  // fp32 on device()
void device_synchronize();              // waits for the device's queued work (no-op on the CPU)

// The CUDA caching allocator's peaks since the last reset (zeros on the CPU).
struct DeviceMemory {
  bool valid = false;  // true on CUDA
  double peak_allocated_bytes = 0, peak_reserved_bytes = 0;
};
DeviceMemory device_memory();
void reset_device_peak_memory();

// Mixed precision on CUDA (torch.autocast's C++ state, this thread): matmuls and attention in
// `half` (bf16 or fp16) while the parameters, their gradients and Adam stay fp32 (the master
// weights). Returns false (nothing enabled) on the CPU or without LibTorch 2.x.
bool enable_cuda_autocast(bool bf16);
// After each step, as leaving torch.autocast does: drops the cached low-precision weight copies.
void autocast_step_done();

}  // namespace parplan::runtime
