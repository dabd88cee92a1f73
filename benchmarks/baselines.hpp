#pragma once
// What a user would write instead of this library, run in the same process
// so that every ratio in the report compares like with like.

#include <condition_variable>
#include <cstddef>
#include <deque>
#include <future>
#include <mutex>
#include <thread>
#include <utility>
#include <vector>

namespace bench {

/// The textbook pool: one std::mutex + std::condition_variable guarding a
/// queue of std::packaged_task, futures from std::packaged_task.
class MutexQueuePool {
public:
  explicit MutexQueuePool(int threads) {
    for (int i = 0; i < threads; ++i) {
      threads_.emplace_back([this] { work(); });
    }
  }
  MutexQueuePool(const MutexQueuePool&) = delete;
  MutexQueuePool& operator=(const MutexQueuePool&) = delete;
  ~MutexQueuePool() {
    {
      std::lock_guard lock(mutex_);
      stop_ = true;
    }
    ready_.notify_all();
    for (auto& t : threads_) {
      t.join();
    }
  }

  template <class F> auto submit(F fn) {
    std::packaged_task<decltype(fn())()> task(std::move(fn));
    auto future = task.get_future();
    {
      std::lock_guard lock(mutex_);
      queue_.emplace_back(std::move(task));
    }
    ready_.notify_one();
    return future;
  }

private:
  void work() {
    std::unique_lock lock(mutex_);
    for (;;) {
      ready_.wait(lock, [this] { return stop_ || !queue_.empty(); });
      if (queue_.empty()) {
        return;
      }
      auto task = std::move(queue_.front());
      queue_.pop_front();
      lock.unlock();
      task();
      lock.lock();
    }
  }

  std::mutex mutex_;
  std::condition_variable ready_;
  std::deque<std::packaged_task<void()>> queue_;
  bool stop_ = false;
  std::vector<std::thread> threads_;
};

/// std::async with std::launch::async: a thread per call.
struct AsyncLauncher {
  explicit AsyncLauncher(int /*threads: one per call*/) {}
  template <class F> auto submit(F fn) {
    return std::async(std::launch::async, std::move(fn));
  }
};

} // namespace bench

#if defined(CF_BENCH_HAVE_ASIO)
#include <asio/post.hpp>
#include <asio/thread_pool.hpp>

namespace bench {
/// Asio's thread_pool with a std::packaged_task per call, as its users
/// get a future from it.
class AsioPool {
public:
  explicit AsioPool(int threads) : pool_(static_cast<std::size_t>(threads)) {}
  ~AsioPool() { pool_.join(); }
  template <class F> auto submit(F fn) {
    std::packaged_task<decltype(fn())()> task(std::move(fn));
    auto future = task.get_future();
    asio::post(pool_, std::move(task));
    return future;
  }

private:
  asio::thread_pool pool_;
};
} // namespace bench
#endif

#if defined(CF_BENCH_HAVE_TBB)
#include <tbb/global_control.h>
#include <tbb/task_arena.h>
#include <tbb/task_group.h>

namespace bench {
/// oneTBB's task_group: no futures at all (results go to a slot the caller
/// owns), so it is the floor a futures library pays its futures on top of.
class TbbGroup {
public:
  explicit TbbGroup(int threads) : arena_(threads) {}
  template <class F> void run(F fn) {
    arena_.execute([&] { group_.run(std::move(fn)); });
  }
  void wait() {
    arena_.execute([&] { group_.wait(); });
  }

private:
  tbb::task_arena arena_;
  tbb::task_group group_;
};
} // namespace bench
#endif
