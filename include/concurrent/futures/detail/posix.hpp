#pragma once
// Operating-system facts the pools need, behind one small interface.

#include <algorithm>
#include <string>
#include <thread>

#include <pthread.h>
#if defined(__linux__)
#include <sched.h>
#endif

namespace concurrent::futures::detail {

/// CPUs this process may run on (its affinity mask), as Python's
/// `os.process_cpu_count()`; at least 1.
inline int usable_cpu_count() noexcept {
#if defined(__linux__)
  // Grow the mask until it is big enough for the kernel's CPU count.
  for (int cpus = 1024; cpus <= (1 << 20); cpus *= 2) {
    cpu_set_t* set = CPU_ALLOC(static_cast<unsigned>(cpus));
    if (set == nullptr) {
      break;
    }
    const std::size_t size = CPU_ALLOC_SIZE(static_cast<unsigned>(cpus));
    const int rc = sched_getaffinity(0, size, set);
    const int count = rc == 0 ? CPU_COUNT_S(size, set) : 0;
    CPU_FREE(set);
    if (rc == 0) {
      return std::max(count, 1);
    }
  }
#endif
  return std::max(static_cast<int>(std::thread::hardware_concurrency()), 1);
}

/// Names the calling thread (as far as the OS allows: Linux keeps 15 bytes).
inline void set_current_thread_name(const std::string& name) noexcept {
#if defined(__linux__)
  const std::string shortened = name.substr(0, 15);
  pthread_setname_np(pthread_self(), shortened.c_str());
#elif defined(__APPLE__)
  pthread_setname_np(name.c_str());
#else
  (void)name;
#endif
}

} // namespace concurrent::futures::detail
