#pragma once
/// \file
/// `Executor`: the abstract base of every pool (Python's
/// `concurrent.futures.Executor`).

#include <concurrent/futures/detail/shared_state.hpp>
#include <concurrent/futures/future.hpp>
#include <concurrent/futures/map.hpp>

#include <concepts>
#include <memory>
#include <type_traits>
#include <utility>

namespace concurrent::futures {

/// What `submit(fn, args...)` needs: `fn` callable with its decay-copied
/// arguments, as they will be passed to it (as rvalues, once).
template <class F, class... Args>
concept submittable = std::invocable<std::decay_t<F>, std::decay_t<Args>...>;

/// The result type of `submit(fn, args...)`.
template <class F, class... Args>
using submit_result_t = std::remove_cvref_t<
    std::invoke_result_t<std::decay_t<F>, std::decay_t<Args>...>>;

/// Runs calls asynchronously. Use a concrete pool (`ThreadPoolExecutor`,
/// ...); code that takes an `Executor&` works with any of them. `submit`,
/// `map` and `shutdown` are safe to call from any thread.
class Executor {
public:
  Executor() = default;
  Executor(const Executor&) = delete;
  Executor& operator=(const Executor&) = delete;
  virtual ~Executor() = default;

  /// Schedules `fn(args...)` and returns a future for its result. `fn` and
  /// `args` are decay-copied (wrap in `std::ref` to pass a reference) and
  /// released as soon as the call has run. Throws `std::runtime_error` after
  /// `shutdown()`, and a `BrokenExecutor` if the pool is broken.
  ///
  /// \code
  ///   cf::Future<double> f = executor.submit(pow, 323, 1235);
  /// \endcode
  template <class F, class... Args>
  requires submittable<F, Args...>
  [[nodiscard]] Future<submit_result_t<F, Args...>> submit(F&& fn,
                                                           Args&&... args) {
    using R = submit_result_t<F, Args...>;
    auto task = std::make_shared<
        detail::TaskState<R, std::decay_t<F>, std::decay_t<Args>...>>(
        std::forward<F>(fn), std::forward<Args>(args)...);
    auto future = detail::FutureAccess::make<Future<R>>(task);
    enqueue(std::move(task));
    return future;
  }

  /// `fn` applied to the elements of `ranges...` in step, results in input
  /// order; an optional last argument `MapOptions{.timeout, .chunksize,
  /// .buffersize}`. See `cf::map`.
  template <class Fn, class... Args>
  [[nodiscard]] auto map(Fn&& fn, Args&&... args) {
    return detail::map_dispatch(*this, std::forward<Fn>(fn),
                                std::forward<Args>(args)...);
  }

  /// Stops accepting work and releases the pool's resources once pending
  /// calls are done. `wait`: return only after that (else at once; the
  /// workers still finish and exit). `cancel_futures`: cancel every call not
  /// yet started. Idempotent; the pools' destructors call `shutdown(true)`.
  void shutdown(bool wait = true, bool cancel_futures = false) {
    do_shutdown(wait, cancel_futures);
  }

protected:
  /// Schedules a task made by `submit`; the pool must call `task->run(task)`
  /// exactly once (also for a cancelled one, which it then just releases).
  /// Throws as `submit` documents.
  virtual void enqueue(detail::StateBase::Ptr task) = 0;

  virtual void do_shutdown(bool wait, bool cancel_futures) = 0;
};

} // namespace concurrent::futures
