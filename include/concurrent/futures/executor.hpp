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
#include <vector>

namespace concurrent::futures {

class Executor;

namespace detail {

/// `map()` gathers its calls here and hands them to the pool in one
/// `enqueue_all` (one queue-lock acquisition for many submits). Only the
/// `submit` made inside `add` joins the batch; a submit nested in it (in a
/// copy constructor of an argument, say) goes to its pool at once, so that
/// waiting for it cannot deadlock. A batch destroyed before `enqueue()`
/// drops its tasks unscheduled: the caller cancels their futures.
class SubmitBatch {
public:
  explicit SubmitBatch(Executor& executor, BatchOf kind = BatchOf::calls)
      : executor_(executor), kind_(kind) {}
  SubmitBatch(const SubmitBatch&) = delete;
  SubmitBatch& operator=(const SubmitBatch&) = delete;

  /// Returns `submit()`, a call of `executor.submit`, whose task joins here.
  template <class Submit> auto add(Submit&& submit) {
    struct Disarm {
      SubmitBatch* outer;
      ~Disarm() { armed = outer; }
    } disarm{std::exchange(armed, this)};
    return std::forward<Submit>(submit)();
  }

  /// Hands the tasks to the pool.
  void enqueue();

  /// For `Executor::submit`: the batch armed for `executor` on this thread,
  /// disarmed, or null.
  static SubmitBatch* take(const Executor* executor) noexcept {
    SubmitBatch* const batch = armed;
    if (batch == nullptr || &batch->executor_ != executor) {
      return nullptr;
    }
    armed = nullptr;
    return batch;
  }

  /// For `Executor::submit`: keeps the task of the call `add` made.
  void keep(StateBase::Ptr task) { tasks_.push_back(std::move(task)); }

private:
  static inline thread_local SubmitBatch* armed = nullptr;
  Executor& executor_;
  BatchOf kind_;
  std::vector<StateBase::Ptr> tasks_;
};

} // namespace detail

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
    // Taken first: a submit nested in copying `fn` or `args` is not map's.
    detail::SubmitBatch* const batch = detail::SubmitBatch::take(this);
    auto task = std::make_shared<
        detail::TaskState<R, std::decay_t<F>, std::decay_t<Args>...>>(
        std::forward<F>(fn), std::forward<Args>(args)...);
    auto future = detail::FutureAccess::make<Future<R>>(task);
    if (batch != nullptr) {
      batch->keep(std::move(task));
    } else {
      enqueue(std::move(task));
    }
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

  /// Schedules tasks made by `submit`, in order, as if by `enqueue` on each
  /// (pools override it to take their queue's lock once). `kind` says
  /// whether they are the chunks of a chunked map().
  virtual void enqueue_all(std::vector<detail::StateBase::Ptr>& tasks,
                           detail::BatchOf /*kind*/) {
    for (auto& task : tasks) {
      enqueue(std::move(task));
    }
  }

  virtual void do_shutdown(bool wait, bool cancel_futures) = 0;

private:
  friend class detail::SubmitBatch;
};

inline void detail::SubmitBatch::enqueue() {
  if (!tasks_.empty()) {
    executor_.enqueue_all(tasks_, kind_);
    tasks_.clear();
  }
}

} // namespace concurrent::futures
