#pragma once
// A thread blocked until some futures complete: CPython's `_Waiter` family
// folded into one type. A waiter is registered on every future it watches;
// a completing future calls `notify` while holding its own lock, and the
// waiting thread removes the waiter from every future (taking each lock)
// before the waiter is destroyed. That pairing is what makes a waiter on the
// waiting thread's stack safe: no future can still be inside `notify` once
// removal has returned. Lock order is always future, then waiter.

#include <concurrent/futures/detail/deadline.hpp>

#include <condition_variable>
#include <cstddef>
#include <mutex>
#include <vector>

namespace concurrent::futures::detail {

class StateBase;

class Waiter {
public:
  /// Called by `state` as it becomes done, with `state`'s lock held.
  void notify(const StateBase* state, bool failed) {
    {
      std::lock_guard lock(mutex_);
      completed_.push_back(state);
      failures_ += failed ? 1 : 0;
    }
    ready_.notify_all();
  }

  /// Blocks until `count` futures have completed, or (with `stop_on_failure`)
  /// one finished with an exception, or the deadline passed. Returns how many
  /// have completed.
  std::size_t wait(std::size_t count, bool stop_on_failure,
                   const Deadline& deadline) {
    std::unique_lock lock(mutex_);
    const auto satisfied = [&] {
      return completed_.size() >= count || (stop_on_failure && failures_ > 0);
    };
    if (deadline) {
      ready_.wait_until(lock, *deadline, satisfied);
    } else {
      ready_.wait(lock, satisfied);
    }
    return completed_.size();
  }

  /// The i-th future to complete, in completion order; i < what `wait`
  /// returned.
  const StateBase* completed(std::size_t i) {
    std::lock_guard lock(mutex_);
    return completed_[i];
  }

private:
  std::mutex mutex_;
  std::condition_variable ready_;
  std::vector<const StateBase*> completed_;
  std::size_t failures_ = 0;
};

} // namespace concurrent::futures::detail
