#pragma once
// Spinning before parking. On this kind of machine a thread woken through a
// futex takes tens of microseconds to run again, far longer than most tasks,
// so a waiter that expects its answer soon first polls for a few
// microseconds. The budget is in time, not iterations, so that it means the
// same on every CPU; past it the waiter parks as before.

#include <chrono>
#include <thread>

namespace concurrent::futures::detail {

/// Tells the CPU this is a spin-wait loop (saves power, and lets a sibling
/// hyper-thread run).
inline void cpu_relax() noexcept {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  asm volatile("yield" ::: "memory");
#endif
}

/// How long a thread polls before it parks: about the cost of one wake-up.
inline constexpr std::chrono::microseconds spin_budget{50};

/// Polls `ready()` for at most `budget`; returns its last answer.
template <class Ready>
bool spin_until(Ready&& ready,
                std::chrono::nanoseconds budget = spin_budget) noexcept {
  using clock = std::chrono::steady_clock;
  const auto give_up = clock::now() + budget;
  for (;;) {
    // The clock is read once per batch of polls: it costs more than a poll.
    for (int i = 0; i < 32; ++i) {
      if (ready()) {
        return true;
      }
      cpu_relax();
    }
    if (clock::now() >= give_up) {
      return ready();
    }
    // Let a thread waiting for this core run: pools often have more
    // threads than there are cores.
    std::this_thread::yield();
  }
}

} // namespace concurrent::futures::detail
