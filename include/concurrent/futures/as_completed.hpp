#pragma once
/// \file
/// `as_completed()`: iterate over futures as they complete (Python's
/// `concurrent.futures.as_completed`).

#include <concurrent/futures/detail/deadline.hpp>
#include <concurrent/futures/detail/single_pass.hpp>
#include <concurrent/futures/detail/waiters.hpp>
#include <concurrent/futures/errors.hpp>
#include <concurrent/futures/future.hpp>
#include <concurrent/futures/wait.hpp>

#include <cstddef>
#include <initializer_list>
#include <iterator>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

namespace concurrent::futures {

/// The single-pass range `as_completed()` returns. Each future appears once:
/// first those already done at the call (in input order), then the others in
/// the order they complete. Reading past a deadline throws `TimeoutError`.
template <class F> class AsCompleted {
public:
  using iterator = detail::SinglePassIterator<AsCompleted, F, const F&>;

  template <class R>
  AsCompleted(R&& fs, detail::Deadline deadline)
      : watch_(std::make_unique<Watch>(
            detail::unique_futures<F>(std::forward<R>(fs)))),
        deadline_(deadline) {}

  /// Waits for the first future; `TimeoutError` if the deadline passes.
  iterator begin() {
    if (!started_) {
      started_ = true;
      advance();
    }
    return iterator(this);
  }
  std::default_sentinel_t end() const noexcept { return {}; }

private:
  friend iterator;

  const F& current() const { return *current_; }
  bool at_end() const { return !current_; }

  // On the heap because futures hold the waiter's address; the range itself
  // may move.
  struct Watch {
    explicit Watch(std::vector<F> futures)
        : registration(waiter, futures.size()) {
      for (F& f : futures) {
        auto& state = *detail::FutureAccess::state(f);
        if (registration.add(state)) {
          finished.push_back(std::move(f));
        } else {
          pending.emplace(&state, std::move(f));
        }
      }
    }
    detail::Waiter waiter;
    detail::WaiterRegistration registration; // after `waiter`: removed first
    std::vector<F> finished;                 // done at the call
    std::unordered_map<const detail::StateBase*, F> pending;
  };

  void advance() {
    Watch& w = *watch_;
    if (yielded_finished_ < w.finished.size()) {
      current_ = w.finished[yielded_finished_++];
      return;
    }
    if (yielded_pending_ == w.pending.size()) {
      current_.reset();
      return;
    }
    const std::size_t completed =
        w.waiter.wait(yielded_pending_ + 1, false, deadline_);
    if (completed <= yielded_pending_) {
      current_.reset();
      throw TimeoutError(std::to_string(w.pending.size() - yielded_pending_) +
                         " (of " +
                         std::to_string(w.finished.size() + w.pending.size()) +
                         ") futures unfinished");
    }
    current_ = w.pending.at(w.waiter.completed(yielded_pending_++));
  }

  std::unique_ptr<Watch> watch_;
  detail::Deadline deadline_;
  std::optional<F> current_;
  std::size_t yielded_finished_ = 0;
  std::size_t yielded_pending_ = 0;
  bool started_ = false;
};

/// Iterates over the futures in `fs` as they complete, with no time limit.
/// Duplicates appear once. Safe to call from any thread.
///
/// \code
///   for (auto f : cf::as_completed(fs, 5s)) use(f.result());
/// \endcode
template <future_range R>
[[nodiscard]] AsCompleted<std::ranges::range_value_t<R>> as_completed(R&& fs) {
  return {std::forward<R>(fs), std::nullopt};
}

/// As above; iteration throws `TimeoutError` once `timeout` from this call
/// has passed with futures still pending.
template <future_range R, class Rep, class Period>
[[nodiscard]] AsCompleted<std::ranges::range_value_t<R>>
as_completed(R&& fs, std::chrono::duration<Rep, Period> timeout) {
  return {std::forward<R>(fs), detail::deadline_after(timeout)};
}

/// `cf::as_completed({f, g}[, timeout])`: for a braced list of futures of
/// one type.
template <future_handle F>
[[nodiscard]] AsCompleted<F> as_completed(std::initializer_list<F> fs) {
  return {fs, std::nullopt};
}

template <future_handle F, class Rep, class Period>
[[nodiscard]] AsCompleted<F>
as_completed(std::initializer_list<F> fs,
             std::chrono::duration<Rep, Period> timeout) {
  return {fs, detail::deadline_after(timeout)};
}

} // namespace concurrent::futures
