// The device of this rank; the CUDA calls compile only against a CUDA LibTorch
// (PARPLAN_TORCH_CUDA, set by runtime/CMakeLists.txt), so Debian's CPU LibTorch builds without them.
#include "device.hpp"

#ifdef PARPLAN_TORCH_CUDA
#include <c10/cuda/CUDACachingAllocator.h>
#include <c10/cuda/CUDAFunctions.h>
#endif

#include <ATen/autocast_mode.h>
#include <torch/version.h>

#include "parplan/model/error.hpp"

namespace parplan::runtime {

namespace {
torch::Device g_device(torch::kCPU);
}  // namespace

bool torch_has_cuda_nccl() {
#if defined(PARPLAN_TORCH_CUDA) && defined(USE_C10D_NCCL)
  return true;
#else
  return false;
#endif
}

bool cuda_usable(int local_rank, std::string* why) {
  if (!torch_has_cuda_nccl()) {
    if (why) *why = "this LibTorch has no CUDA (c10d ProcessGroupNCCL absent)";
    return false;
  }
  if (!torch::cuda::is_available()) {
    if (why) *why = "no GPU is visible (torch::cuda::is_available() is false)";
    return false;
  }
  auto n = int(torch::cuda::device_count());
  if (local_rank >= n) {
    if (why)
      *why = "local rank " + std::to_string(local_rank) + " has no GPU (" + std::to_string(n) +
             " visible; one GPU per local rank)";
    return false;
  }
  return true;
}

void select_device(bool cuda, int local_rank) {
  if (!cuda) {
    g_device = torch::Device(torch::kCPU);
    return;
  }
#ifdef PARPLAN_TORCH_CUDA
  std::string why;
  if (!cuda_usable(local_rank, &why)) throw Error("cannot use CUDA: " + why);
  g_device = torch::Device(torch::kCUDA, static_cast<c10::DeviceIndex>(local_rank));
  c10::cuda::set_device(static_cast<c10::DeviceIndex>(local_rank));
#else
  (void)local_rank;
  throw Error("cannot use CUDA: this LibTorch has no CUDA");
#endif
}

torch::Device device() { return g_device; }
torch::TensorOptions device_options() { return torch::TensorOptions().dtype(torch::kFloat32).device(g_device); }

void device_synchronize() {
  if (g_device.is_cuda()) torch::cuda::synchronize(g_device.index());
}

DeviceMemory device_memory() {
  DeviceMemory m;
#ifdef PARPLAN_TORCH_CUDA
  if (g_device.is_cuda()) {
    using c10::cuda::CUDACachingAllocator::StatType;
    auto s = c10::cuda::CUDACachingAllocator::getDeviceStats(g_device.index());
    const auto agg = static_cast<size_t>(StatType::AGGREGATE);
    m.valid = true;
    m.peak_allocated_bytes = double(s.allocated_bytes[agg].peak);
    m.peak_reserved_bytes = double(s.reserved_bytes[agg].peak);
  }
#endif
  return m;
}

void reset_device_peak_memory() {
#ifdef PARPLAN_TORCH_CUDA
  if (g_device.is_cuda()) c10::cuda::CUDACachingAllocator::resetPeakStats(g_device.index());
#endif
}

bool enable_cuda_autocast(bool bf16) {
#if defined(PARPLAN_TORCH_CUDA) && TORCH_VERSION_MAJOR >= 2
  if (!g_device.is_cuda()) return false;
  const auto half = bf16 ? at::kBFloat16 : at::kHalf;
#if TORCH_VERSION_MINOR >= 4 || TORCH_VERSION_MAJOR > 2
  at::autocast::set_autocast_dtype(at::kCUDA, half);
  at::autocast::set_autocast_enabled(at::kCUDA, true);
#else
  at::autocast::set_autocast_gpu_dtype(half);
  at::autocast::set_enabled(true);
#endif
  return true;
#else
  (void)bf16;
  return false;
#endif
}

void autocast_step_done() {
#if defined(PARPLAN_TORCH_CUDA) && TORCH_VERSION_MAJOR >= 2
  if (g_device.is_cuda()) at::autocast::clear_cache();
#endif
}

}  // namespace parplan::runtime
