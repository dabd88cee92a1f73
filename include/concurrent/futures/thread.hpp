#pragma once
/// \file
/// `ThreadPoolExecutor`: runs calls on a pool of threads (Python's
/// `concurrent.futures.ThreadPoolExecutor`).

#include <concurrent/futures/detail/posix.hpp>
#include <concurrent/futures/detail/shared_state.hpp>
#include <concurrent/futures/detail/spin.hpp>
#include <concurrent/futures/errors.hpp>
#include <concurrent/futures/executor.hpp>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <deque>
#include <exception>
#include <functional>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace concurrent::futures {

/// Options of `ThreadPoolExecutor`, in the order designated initializers
/// must follow.
struct ThreadPoolOptions {
  /// Most threads the pool starts (`>= 1`); no value: min(32, usable CPUs + 4).
  std::optional<int> max_workers{};
  /// Threads are named `<prefix>_<n>`; empty: `ThreadPoolExecutor-<k>`.
  std::string thread_name_prefix{};
  /// Run by each worker thread before its first call. If it throws, the pool
  /// is broken: pending and later calls fail with `BrokenThreadPool`.
  std::function<void()> initializer{};
};

/// A pool of at most `max_workers` threads, started lazily as work arrives;
/// an idle thread is reused before a new one starts. Calls start in the
/// order they were submitted.
///
/// \code
///   cf::ThreadPoolExecutor pool(4);
///   auto f = pool.submit([](int x) { return x * x; }, 7);
///   f.result();  // 49
/// \endcode
class ThreadPoolExecutor : public Executor {
public:
  using Options = ThreadPoolOptions;

  /// `max_workers` = min(32, usable CPUs + 4).
  ThreadPoolExecutor() : ThreadPoolExecutor(Options{}) {}

  /// Throws `std::invalid_argument` if `max_workers <= 0`.
  explicit ThreadPoolExecutor(int max_workers)
      : ThreadPoolExecutor(Options{.max_workers = max_workers}) {}

  /// Throws `std::invalid_argument` if `options.max_workers <= 0`.
  explicit ThreadPoolExecutor(Options options)
      : max_workers_(options.max_workers.value_or(default_max_workers())),
        prefix_(options.thread_name_prefix.empty()
                    ? "ThreadPoolExecutor-" + std::to_string(next_pool_number())
                    : std::move(options.thread_name_prefix)),
        initializer_(std::move(options.initializer)) {
    if (max_workers_ <= 0) {
      throw std::invalid_argument("max_workers must be greater than 0");
    }
  }

  /// Shuts down and waits for every thread (`shutdown(true)`).
  ~ThreadPoolExecutor() override { shutdown(true); }

  /// The most threads this pool starts.
  [[nodiscard]] int max_workers() const noexcept { return max_workers_; }

  /// Python's default: min(32, CPUs this process may use + 4).
  static int default_max_workers() noexcept {
    return std::min(32, detail::usable_cpu_count() + 4);
  }

protected:
  void enqueue(detail::StateBase::Ptr task) override {
    std::lock_guard lock(mutex_);
    check_accepting();
    queue_.push_back(std::move(task));
    wake_workers(1);
  }

  void enqueue_all(std::vector<detail::StateBase::Ptr>& tasks,
                   detail::BatchOf /*kind*/) override {
    std::lock_guard lock(mutex_);
    check_accepting();
    for (auto& task : tasks) {
      queue_.push_back(std::move(task));
    }
    wake_workers(tasks.size());
  }

  void do_shutdown(bool wait, bool cancel_futures) override {
    std::deque<detail::StateBase::Ptr> cancelled;
    {
      std::lock_guard lock(mutex_);
      shutdown_ = true;
      stopping_.store(true, std::memory_order_release);
      if (cancel_futures) {
        cancelled.swap(queue_);
        queued_.store(0, std::memory_order_release);
      }
      work_ready_.notify_all();
    }
    // Outside the lock: cancelling runs the futures' callbacks.
    for (auto& task : cancelled) {
      task->cancel(task);
      task->run(task); // sees the cancellation and releases the call
    }
    if (wait) {
      join_workers();
    }
  }

  /// The error a broken pool gives (subclasses give their own kind).
  [[nodiscard]] virtual std::exception_ptr
  broken_error(const std::string& reason) const {
    return std::make_exception_ptr(BrokenThreadPool(reason));
  }

  /// Subclasses whose workers may still call virtual functions must call
  /// this first in their destructor.
  void join_before_destruction() { shutdown(true); }

private:
  static int next_pool_number() noexcept {
    static std::atomic<int> counter{0};
    return counter++;
  }

  // Called with the lock held.
  void check_accepting() const {
    if (!broken_.empty()) {
      std::rethrow_exception(broken_error(broken_));
    }
    if (shutdown_) {
      throw std::runtime_error("cannot schedule new futures after shutdown");
    }
  }

  // Called with the lock held, after queuing `added` tasks: wakes or starts
  // a thread for each task that no free thread will take. Free threads that
  // are not parked (spinning, starting, publishing an outcome, or already
  // woken) look at the queue again without a further wake-up, which costs
  // more than most tasks. If no thread can be started and none exists, the
  // tasks just queued would never run, so they are taken back.
  void wake_workers(std::size_t added) {
    queued_.store(queue_.size(), std::memory_order_release);
    while (queue_.size() > idle_ - parked_ + waking_) {
      if (parked_ > waking_) {
        ++waking_;
        work_ready_.notify_one();
      } else if (threads_.size() < static_cast<std::size_t>(max_workers_)) {
        try {
          start_worker();
        } catch (...) {
          if (!threads_.empty()) {
            return; // the running threads will get to them
          }
          for (std::size_t i = 0; i < added; ++i) {
            queue_.pop_back();
          }
          queued_.store(queue_.size(), std::memory_order_release);
          throw;
        }
      } else {
        return;
      }
    }
  }

  // Called with the lock held.
  void start_worker() {
    const std::size_t index = threads_.size();
    ++idle_; // the new thread will take a queued task without further ado
    try {
      threads_.emplace_back([this, index] { work(index); });
    } catch (...) {
      --idle_;
      throw;
    }
  }

  void work(std::size_t index) {
    detail::set_current_thread_name(prefix_ + "_" + std::to_string(index));
    if (initializer_) {
      try {
        initializer_();
      } catch (...) {
        detail::report_exception("exception in initializer",
                                 std::current_exception());
        --idle_;
        break_pool(describe(std::current_exception()));
        return;
      }
    }
    std::unique_lock lock(mutex_);
    bool just_worked = false;
    for (;;) {
      if (queue_.empty() && !shutdown_ && broken_.empty()) {
        // One thread at a time polls for more work after a task before
        // parking, so that submit-wait-submit never waits for a wake-up;
        // the others park at once rather than compete for the cores.
        if (just_worked && !spinning_) {
          spinning_ = true;
          lock.unlock();
          detail::spin_until([this] {
            return queued_.load(std::memory_order_acquire) > 0 ||
                   stopping_.load(std::memory_order_acquire);
          });
          lock.lock();
          spinning_ = false;
        }
        ++parked_;
        while (queue_.empty() && !shutdown_ && broken_.empty()) {
          work_ready_.wait(lock);
          // Each wake-up settles one notify (or none, if spurious), even
          // when another thread took the task first and this one parks
          // again: counting it still on its way would lose the next one.
          waking_ -= waking_ > 0 ? 1 : 0;
        }
        --parked_;
      }
      if (queue_.empty()) {
        --idle_;
        return; // shut down (or broken) with nothing left to run
      }
      detail::StateBase::Ptr task = std::move(queue_.front());
      queue_.pop_front();
      queued_.store(queue_.size(), std::memory_order_release);
      --idle_;
      just_worked = true;
      lock.unlock();
      task->execute();
      // Free again before the outcome is visible: a caller that reacts to
      // it by submitting more work finds this thread instead of starting one.
      ++idle_;
      task->publish(task);
      task.reset(); // the pool lets go of the call before taking the next
      lock.lock();
    }
  }

  // CPython's `_initializer_failed`: every queued call and every later submit
  // fails with BrokenThreadPool.
  static std::string describe(std::exception_ptr error) {
    try {
      std::rethrow_exception(std::move(error));
    } catch (const std::exception& e) {
      return e.what();
    } catch (...) {
      return "not a std::exception";
    }
  }

  void break_pool(const std::string& cause) {
    std::deque<detail::StateBase::Ptr> pending;
    std::string reason;
    {
      std::lock_guard lock(mutex_);
      if (broken_.empty()) {
        broken_ = "A thread initializer failed, the thread pool is not "
                  "usable anymore: " +
                  cause;
      }
      reason = broken_;
      pending.swap(queue_);
      queued_.store(0, std::memory_order_release);
      stopping_.store(true, std::memory_order_release);
      work_ready_.notify_all();
    }
    const auto error = broken_error(reason);
    for (auto& task : pending) {
      task->try_fail(task, error);
      task->run(task); // already done: just releases the call
    }
  }

  // Once shut down, no thread is added, so `threads_` is only touched here,
  // one joiner at a time.
  void join_workers() {
    std::lock_guard join_lock(join_mutex_);
    for (auto& thread : threads_) {
      // A task that shuts down its own pool cannot wait for itself.
      if (thread.joinable() && thread.get_id() != std::this_thread::get_id()) {
        thread.join();
      }
    }
  }

  const int max_workers_;
  const std::string prefix_;
  const std::function<void()> initializer_;

  std::mutex mutex_; // guards everything below but `threads_` after shutdown
  std::condition_variable work_ready_;
  std::deque<detail::StateBase::Ptr> queue_;
  // Threads that will take the next queued task: waiting, starting, or done
  // with a task whose outcome they are still publishing. Atomic because a
  // worker counts itself free without taking the lock.
  std::atomic<std::size_t> idle_ = 0;
  std::size_t parked_ = 0; // free threads blocked on `work_ready_`
  std::size_t waking_ = 0; // of those, how many were notified
  bool spinning_ = false;  // whether a free thread is polling `queued_`
  bool shutdown_ = false;
  // Mirrors of `queue_.size()` and of "shut down or broken", for the thread
  // that polls without the lock.
  std::atomic<std::size_t> queued_ = 0;
  std::atomic<bool> stopping_ = false;
  std::string broken_; // why the pool is broken; empty while it is not
  std::vector<std::jthread> threads_;
  std::mutex join_mutex_;
};

} // namespace concurrent::futures
