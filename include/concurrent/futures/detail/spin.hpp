#pragma once
// Spinning before parking. On this kind of machine a thread woken through a
// futex takes tens of microseconds to run again, far longer than most tasks,
// so a waiter that expects its answer soon first polls for a few
// microseconds. The budget is in time, not iterations, so that it means the
// same on every CPU; past it, or when the machine is busy, the waiter parks
// as before.

#include <concurrent/futures/detail/deadline.hpp>

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

/// After a sign that the machine is busy, how long a thread parks at once
/// instead of polling.
inline constexpr std::chrono::milliseconds busy_machine_backoff{100};

/// Polls `ready()` for at most `budget`; returns its last answer.
///
/// Polling only pays while cores are free. Between polls the thread yields
/// its core, so that the thread that will produce the answer can run even
/// when a pool has more threads than cores. If a yield takes longer than
/// the budget, other work wanted the core: the machine is busy, a parked
/// thread is woken sooner than a yielding one is rescheduled, so this
/// thread stops polling for `busy_machine_backoff`.
template <class Ready>
bool spin_until(Ready&& ready,
                std::chrono::nanoseconds budget = spin_budget) noexcept {
  using clock = std::chrono::steady_clock;
  thread_local clock::time_point parking_until{};
  // A short burst on the CPU first: the answer is often a few hundred
  // nanoseconds away.
  for (int i = 0; i < 64; ++i) {
    if (ready()) {
      return true;
    }
    cpu_relax();
  }
  auto now = clock::now();
  if (now < parking_until) {
    return false;
  }
  const auto give_up = now + budget;
  for (;;) {
    std::this_thread::yield();
    const auto before = now;
    now = clock::now();
    if (ready()) {
      return true;
    }
    if (now - before > budget) {
      parking_until = now + busy_machine_backoff;
      return false;
    }
    if (now >= give_up) {
      return false;
    }
  }
}

} // namespace concurrent::futures::detail
