// A counting wrapper around c10's CPU allocator, and the process's RSS from /proc.
#include "memory_meter.hpp"

#include <atomic>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <mutex>
#include <string>

#include <c10/core/Allocator.h>
#include <c10/core/CPUAllocator.h>

namespace parplan::runtime::memory {

namespace {

std::atomic<int64_t> g_live{0}, g_peak{0};
std::atomic<bool> g_installed{false};

// Each block carries its size in a header before the data; 64 bytes keep c10's 64-byte alignment.
constexpr size_t kHeader = 64;

void note_alloc(int64_t n) {
  int64_t live = g_live.fetch_add(n) + n;
  int64_t peak = g_peak.load();
  while (live > peak && !g_peak.compare_exchange_weak(peak, live)) {
  }
}

struct CountingAllocator final : at::Allocator {
  at::Allocator* base = nullptr;

  static at::Allocator*& base_of() {
    static at::Allocator* b = nullptr;
    return b;
  }
  static void deleter(void* data) {
    if (!data) return;
    char* block = static_cast<char*>(data) - kHeader;
    size_t n = 0;
    std::memcpy(&n, block, sizeof n);
    g_live.fetch_sub(int64_t(n));
    base_of()->raw_deallocate(block);
  }
  at::DataPtr allocate(size_t n) const override {
    void* block = base->raw_allocate(n + kHeader);
    std::memcpy(block, &n, sizeof n);
    note_alloc(int64_t(n));
    void* data = static_cast<char*>(block) + kHeader;
    return {data, data, &CountingAllocator::deleter, at::Device(at::DeviceType::CPU)};
  }
  at::DeleterFnPtr raw_deleter() const override { return &CountingAllocator::deleter; }
};

double status_field(const char* key) {
  std::ifstream f("/proc/self/status");
  std::string line;
  size_t len = std::strlen(key);
  while (std::getline(f, line))
    if (line.compare(0, len, key) == 0) return std::stod(line.substr(len + 1)) * 1024.0;  // kB
  return 0;
}

}  // namespace

void install() {
  static std::once_flag once;
  std::call_once(once, [] {
    static CountingAllocator counting;
    counting.base = c10::GetCPUAllocator();
    CountingAllocator::base_of() = counting.base;
    // Priority above the default's (0) so a later default registration does not undo it.
    c10::SetCPUAllocator(&counting, /*priority=*/1);
    g_installed = true;
  });
}

bool installed() { return g_installed.load(); }
int64_t live_tensor_bytes() { return g_live.load(); }
int64_t peak_tensor_bytes() { return g_peak.load(); }
void reset_peak() { g_peak.store(g_live.load()); }

double rss_bytes() { return status_field("VmRSS:"); }
double peak_rss_bytes() { return status_field("VmHWM:"); }

bool reset_peak_rss() {
  std::FILE* f = std::fopen("/proc/self/clear_refs", "w");
  if (!f) return false;
  bool ok = std::fputs("5", f) >= 0;
  return std::fclose(f) == 0 && ok;
}

}  // namespace parplan::runtime::memory
