#pragma once
/// \file
/// `Future<T>`: the result of an asynchronous call (Python's
/// `concurrent.futures.Future`), and `AnyFuture`, the same handle with the
/// result type erased.

#include <concurrent/futures/detail/deadline.hpp>
#include <concurrent/futures/detail/shared_state.hpp>
#include <concurrent/futures/errors.hpp>

#include <concepts>
#include <cstddef>
#include <exception>
#include <functional>
#include <memory>
#include <stdexcept>
#include <type_traits>
#include <utility>

namespace concurrent::futures {

template <class T> class Future;
class AnyFuture;

namespace detail {

template <class T> struct result_ref { using type = const T&; };
template <> struct result_ref<void> { using type = void; };

/// Lets executors and the free functions reach the state behind a handle
/// without making that part of the public interface.
struct FutureAccess {
  template <class F> static const StateBase::Ptr& state(const F& future) {
    return future.state_;
  }
  template <class F> static F make(StateBase::Ptr state) {
    return F(std::move(state));
  }
};

/// The operations that do not depend on the result type, shared by
/// `Future<T>` and `AnyFuture`. All of them are safe to call from any thread.
class FutureHandle {
public:
  /// Attempts to cancel the call. Returns false if it is running or finished
  /// (it cannot be cancelled then), true otherwise. A cancelled future is
  /// done at once: its waiters wake and its callbacks run.
  bool cancel() { return state_->cancel(state_); }

  /// Whether the call was cancelled.
  [[nodiscard]] bool cancelled() const {
    return is_cancelled(state_->status());
  }

  /// Whether the call is running now and cannot be cancelled.
  [[nodiscard]] bool running() const {
    return state_->status() == Status::running;
  }

  /// Whether the call was cancelled or finished.
  [[nodiscard]] bool done() const { return is_done(state_->status()); }

  /// Waits for the call and returns the exception it raised, or null if it
  /// returned. Throws `CancelledError` if cancelled.
  [[nodiscard]] std::exception_ptr exception() const {
    return state_->await_outcome(std::nullopt);
  }

  /// As `exception()`, but throws `TimeoutError` if the call is not done
  /// within `timeout`.
  template <class Rep, class Period>
  [[nodiscard]] std::exception_ptr
  exception(std::chrono::duration<Rep, Period> timeout) const {
    return state_->await_outcome(deadline_after(timeout));
  }

  /// For executors and tests: marks the future running and returns true, or,
  /// if it was cancelled, returns false (and it stays cancelled). Throws
  /// `InvalidStateError` if it is already running or finished.
  bool set_running_or_notify_cancel() {
    return state_->set_running_or_notify_cancel();
  }

  /// For executors and tests: finishes the future with `error` (not null).
  /// Throws `InvalidStateError` if it is already done.
  void set_exception(std::exception_ptr error) {
    if (!error) {
      throw std::invalid_argument("set_exception() needs an exception");
    }
    state_->finish(
        state_, [] {}, std::move(error));
  }

protected:
  explicit FutureHandle(StateBase::Ptr state) : state_(std::move(state)) {}

  /// Stores `fn` to be called with a `Handle` to this future once done.
  template <class Handle, class Fn> void add_callback(Fn fn) {
    state_->add_done_callback(
        state_, [fn = std::move(fn)](const StateBase::Ptr& state) mutable {
          fn(FutureAccess::make<Handle>(state));
        });
  }

  StateBase::Ptr state_;

  friend struct FutureAccess;
};

} // namespace detail

/// The result of an asynchronous call. A copyable handle: copies share one
/// state, and `==` compares that identity. `T` may be `void` or move-only.
///
/// \code
///   cf::Future<int> f = pool.submit([] { return 6 * 7; });
///   f.add_done_callback([](const cf::Future<int>& g) { log(g.result()); });
///   int answer = f.result(2s);  // throws cf::TimeoutError after 2 s
/// \endcode
template <class T> class Future : public detail::FutureHandle {
  static_assert(!std::is_reference_v<T>,
                "Future<T>: T must not be a reference; return by value");

public:
  using value_type = T;

  /// A new pending future, for executor writers and tests.
  Future() : FutureHandle(std::make_shared<detail::SharedState<T>>()) {}

  /// Waits for the call and returns its result; rethrows its exception.
  /// Throws `CancelledError` if cancelled. The reference stays valid while
  /// any handle to this future lives.
  typename detail::result_ref<T>::type result() const {
    return get(std::nullopt);
  }

  /// As `result()`, but throws `TimeoutError` if the call is not done within
  /// `timeout`.
  template <class Rep, class Period>
  typename detail::result_ref<T>::type
  result(std::chrono::duration<Rep, Period> timeout) const {
    return get(detail::deadline_after(timeout));
  }

  /// Calls `fn(*this)` when the future is done (at once if it already is),
  /// in the thread that completes it, in the order callbacks were added. An
  /// exception from `fn` is reported on stderr and otherwise ignored.
  template <class Fn>
  requires std::invocable<Fn&, const Future&> && std::copy_constructible<Fn>
  void add_done_callback(Fn fn) { add_callback<Future>(std::move(fn)); }

  /// For executors and tests: finishes the future with `value`. Throws
  /// `InvalidStateError` if it is already done.
  template <class U = T>
  requires(!std::is_void_v<U>) void set_result(U value) {
    typed().set_value(state_, std::move(value));
  }

  /// `Future<void>`: finishes the future. Throws `InvalidStateError` if it is
  /// already done.
  void set_result() requires std::is_void_v<T> { typed().set_value(state_); }

  friend bool operator==(const Future& a, const Future& b) noexcept {
    return a.state_ == b.state_;
  }

private:
  explicit Future(detail::StateBase::Ptr state)
      : FutureHandle(std::move(state)) {}

  detail::SharedState<T>& typed() const {
    return static_cast<detail::SharedState<T>&>(*state_);
  }

  typename detail::result_ref<T>::type
  get(const detail::Deadline& deadline) const {
    if (auto error = state_->await_outcome(deadline)) {
      std::rethrow_exception(std::move(error));
    }
    if constexpr (!std::is_void_v<T>) {
      return typed().value();
    }
  }

  friend struct detail::FutureAccess;
};

/// A future whose result type is erased: it shares the state of the
/// `Future<T>` it was made from, so futures of different types can be waited
/// on together. `result()` waits and rethrows but returns nothing.
class AnyFuture : public detail::FutureHandle {
public:
  template <class T>
  AnyFuture(const Future<T>& future) // NOLINT: implicit by design
      : FutureHandle(detail::FutureAccess::state(future)) {}

  /// Waits for the call; rethrows its exception; `CancelledError` if
  /// cancelled.
  void result() const { rethrow(state_->await_outcome(std::nullopt)); }

  /// As `result()`, with `TimeoutError` after `timeout`.
  template <class Rep, class Period>
  void result(std::chrono::duration<Rep, Period> timeout) const {
    rethrow(state_->await_outcome(detail::deadline_after(timeout)));
  }

  /// As `Future<T>::add_done_callback`, with `fn(const AnyFuture&)`.
  template <class Fn>
  requires std::invocable<Fn&, const AnyFuture&> && std::copy_constructible<Fn>
  void add_done_callback(Fn fn) { add_callback<AnyFuture>(std::move(fn)); }

  friend bool operator==(const AnyFuture& a, const AnyFuture& b) noexcept {
    return a.state_ == b.state_;
  }

private:
  explicit AnyFuture(detail::StateBase::Ptr state)
      : FutureHandle(std::move(state)) {}

  static void rethrow(std::exception_ptr error) {
    if (error) {
      std::rethrow_exception(std::move(error));
    }
  }

  friend struct detail::FutureAccess;
};

/// The types `wait()` and `as_completed()` accept.
template <class F>
concept future_handle =
    std::derived_from<std::remove_cvref_t<F>, detail::FutureHandle> &&
    std::copyable<std::remove_cvref_t<F>> &&
    std::equality_comparable<std::remove_cvref_t<F>>;

} // namespace concurrent::futures

template <class T> struct std::hash<concurrent::futures::Future<T>> {
  std::size_t
  operator()(const concurrent::futures::Future<T>& f) const noexcept {
    return std::hash<const void*>{}(
        concurrent::futures::detail::FutureAccess::state(f).get());
  }
};

template <> struct std::hash<concurrent::futures::AnyFuture> {
  std::size_t
  operator()(const concurrent::futures::AnyFuture& f) const noexcept {
    return std::hash<const void*>{}(
        concurrent::futures::detail::FutureAccess::state(f).get());
  }
};
