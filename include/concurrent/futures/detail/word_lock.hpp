#pragma once
// A mutex in four bytes, for the state behind every future: a million queued
// tasks mean a million of these, and std::mutex takes forty. It is the
// classic three-state futex lock (Drepper, "Futexes Are Tricky"), parking
// through C++20 atomic wait/notify; the critical sections it guards are a
// few instructions long, so contention is brief and rare.

#include <concurrent/futures/detail/spin.hpp>

#include <atomic>
#include <cstdint>

namespace concurrent::futures::detail {

class WordLock {
public:
  void lock() noexcept {
    std::uint32_t expected = unlocked;
    if (state_.compare_exchange_strong(expected, locked,
                                       std::memory_order_acquire)) {
      return;
    }
    // Held: poll briefly, since the holder is about to let go.
    for (int i = 0; i < 64; ++i) {
      cpu_relax();
      expected = unlocked;
      if (state_.load(std::memory_order_relaxed) == unlocked &&
          state_.compare_exchange_weak(expected, locked,
                                       std::memory_order_acquire)) {
        return;
      }
    }
    // Mark it contended, then park until the holder's unlock wakes us.
    while (state_.exchange(contended, std::memory_order_acquire) != unlocked) {
      state_.wait(contended, std::memory_order_relaxed);
    }
  }

  void unlock() noexcept {
    if (state_.exchange(unlocked, std::memory_order_release) == contended) {
      state_.notify_one();
    }
  }

private:
  static constexpr std::uint32_t unlocked = 0;
  static constexpr std::uint32_t locked = 1;    // no one waiting
  static constexpr std::uint32_t contended = 2; // someone may be parked
  std::atomic<std::uint32_t> state_{unlocked};
};

} // namespace concurrent::futures::detail
