// The bytes a backend holds through Allocate, now and at their peak: what Backend::MemoryStats reports. Each backend
// says how many bytes an allocation holds (the CPU one its allocator's usable size, the CUDA one its rounded
// request); the counting is this one.
#pragma once

#include <atomic>
#include <cstdint>

#include "kernels/kernels.h"

namespace ftd {

// Thread-safe (atomics): a buffer may be freed on another thread than the one that made it.
class MemoryCounter {
 public:
  void Allocated(int64_t bytes) {
    const int64_t now = held_.fetch_add(bytes, std::memory_order_relaxed) + bytes;
    int64_t peak = peak_.load(std::memory_order_relaxed);
    while (now > peak && !peak_.compare_exchange_weak(peak, now, std::memory_order_relaxed)) {
    }
  }
  void Freed(int64_t bytes) { held_.fetch_sub(bytes, std::memory_order_relaxed); }
  DeviceMemoryStats Stats() const {
    return DeviceMemoryStats{held_.load(std::memory_order_relaxed), peak_.load(std::memory_order_relaxed)};
  }

 private:
  std::atomic<int64_t> held_{0};
  std::atomic<int64_t> peak_{0};
};

}  // namespace ftd
