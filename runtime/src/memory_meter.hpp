#pragma once
// Measured memory of one rank. On the CPU every tensor's storage comes from c10's CPU allocator;
// install() wraps it so the live bytes of all tensors and their high-water mark are counted
// exactly (the allocation size, not the page-rounded RSS). Peak RSS comes from /proc/self/status
// (VmHWM), which reset_peak_rss() restarts (/proc/self/clear_refs "5", Linux >= 4.0).
#include <cstdint>

namespace parplan::runtime::memory {

// Wraps the CPU allocator (once per process; call before the first tensor that should count).
void install();
bool installed();
int64_t live_tensor_bytes();   // bytes of CPU tensor storage alive now
int64_t peak_tensor_bytes();   // high-water mark of live_tensor_bytes() since reset_peak()
void reset_peak();             // peak := live

double rss_bytes();            // VmRSS
double peak_rss_bytes();       // VmHWM
bool reset_peak_rss();         // false where the kernel does not support it

}  // namespace parplan::runtime::memory
