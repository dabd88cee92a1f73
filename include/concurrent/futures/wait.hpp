#pragma once
/// \file
/// `wait()`: block until some or all of a group of futures are done
/// (Python's `concurrent.futures.wait`).

#include <concurrent/futures/detail/deadline.hpp>
#include <concurrent/futures/detail/waiters.hpp>
#include <concurrent/futures/future.hpp>

#include <cstddef>
#include <initializer_list>
#include <optional>
#include <ranges>
#include <unordered_set>

namespace concurrent::futures {

/// When `wait()` returns.
enum ReturnWhen {
  /// As soon as any future finishes or is cancelled.
  FIRST_COMPLETED,
  /// As soon as any future finishes by raising; if none does, as
  /// `ALL_COMPLETED`.
  FIRST_EXCEPTION,
  /// When every future has finished or was cancelled.
  ALL_COMPLETED
};

/// The two sets `wait()` returns: `auto [done, not_done] = cf::wait(fs);`.
template <class F> struct WaitResult {
  std::unordered_set<F> done;
  std::unordered_set<F> not_done;
};

/// A range whose elements are futures (`Future<T>` or `AnyFuture`).
template <class R>
concept future_range =
    std::ranges::input_range<R> && future_handle<std::ranges::range_value_t<R>>;

namespace detail {

template <class R>
auto wait_until(R&& fs, const Deadline& deadline, ReturnWhen return_when) {
  using F = std::ranges::range_value_t<R>;
  const std::vector<F> unique = unique_futures<F>(std::forward<R>(fs));

  Waiter waiter;
  bool any_done = false;
  bool any_failed = false;
  {
    WaiterRegistration registration(waiter, unique.size());
    for (const F& f : unique) {
      StateBase& state = *FutureAccess::state(f);
      if (registration.add(state)) {
        any_done = true;
        any_failed = any_failed || state.failed();
      }
    }
    const std::size_t pending = registration.size();
    switch (return_when) {
    case FIRST_COMPLETED:
      if (!any_done && pending > 0) {
        waiter.wait(1, false, deadline);
      }
      break;
    case FIRST_EXCEPTION:
      if (!any_failed) {
        waiter.wait(pending, true, deadline);
      }
      break;
    case ALL_COMPLETED:
      waiter.wait(pending, false, deadline);
      break;
    }
  }

  WaitResult<F> result;
  for (const F& f : unique) {
    (f.done() ? result.done : result.not_done).insert(f);
  }
  return result;
}

} // namespace detail

/// Waits until the futures in `fs` are done as `return_when` says, with no
/// time limit. Duplicates count once; futures may come from different
/// executors. Returns `{done, not_done}`. Safe to call from any thread.
template <future_range R>
[[nodiscard]] WaitResult<std::ranges::range_value_t<R>>
wait(R&& fs, ReturnWhen return_when = ALL_COMPLETED) {
  return detail::wait_until(std::forward<R>(fs), std::nullopt, return_when);
}

/// As above, returning after `timeout` at the latest (no exception: what is
/// not done is in `not_done`).
///
/// \code
///   auto [done, not_done] = cf::wait(fs, 2s, cf::FIRST_COMPLETED);
/// \endcode
template <future_range R, class Rep, class Period>
[[nodiscard]] WaitResult<std::ranges::range_value_t<R>>
wait(R&& fs, std::chrono::duration<Rep, Period> timeout,
     ReturnWhen return_when = ALL_COMPLETED) {
  return detail::wait_until(std::forward<R>(fs),
                            detail::deadline_after(timeout), return_when);
}

/// `cf::wait({f, g})`: as above, for a braced list of futures of one type
/// (use `AnyFuture` elements to mix result types).
template <future_handle F>
[[nodiscard]] WaitResult<F> wait(std::initializer_list<F> fs,
                                 ReturnWhen return_when = ALL_COMPLETED) {
  return detail::wait_until(fs, std::nullopt, return_when);
}

/// `cf::wait({f, g}, timeout)`.
template <future_handle F, class Rep, class Period>
[[nodiscard]] WaitResult<F> wait(std::initializer_list<F> fs,
                                 std::chrono::duration<Rep, Period> timeout,
                                 ReturnWhen return_when = ALL_COMPLETED) {
  return detail::wait_until(fs, detail::deadline_after(timeout), return_when);
}

} // namespace concurrent::futures
