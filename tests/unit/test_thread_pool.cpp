// ThreadPoolExecutor: workers, names, initializer, options.

#include "calls.hpp"
#include "catch.hpp"
#include "no_new_threads.hpp"
#include "sync.hpp"

#include <concurrent/futures/thread.hpp>
#include <concurrent/futures/wait.hpp>

#include <algorithm>
#include <atomic>
#include <functional>
#include <memory>
#include <set>
#include <stdexcept>
#include <string>
#include <system_error>
#include <thread>
#include <vector>

#include <pthread.h>
#include <sched.h>

namespace cf = concurrent::futures;
using namespace std::chrono_literals;

namespace {

using test::add;

std::string current_thread_name() {
  char name[64] = {};
  pthread_getname_np(pthread_self(), name, sizeof name);
  return name;
}

int affinity_cpus() {
  cpu_set_t set;
  CPU_ZERO(&set);
  REQUIRE(sched_getaffinity(0, sizeof set, &set) == 0);
  return CPU_COUNT(&set);
}

thread_local bool initialized = false;

} // namespace

TEST_CASE("max_workers defaults to min(32, usable CPUs + 4)", "[thread_pool]") {
  cf::ThreadPoolExecutor pool;
  CHECK(pool.max_workers() == std::min(32, affinity_cpus() + 4));
  CHECK(cf::ThreadPoolExecutor::default_max_workers() == pool.max_workers());
  cf::ThreadPoolExecutor with_options({.thread_name_prefix = "x"});
  CHECK(with_options.max_workers() == pool.max_workers());
}

TEST_CASE("max_workers <= 0 throws std::invalid_argument", "[thread_pool]") {
  CHECK_THROWS_AS(cf::ThreadPoolExecutor(0), std::invalid_argument);
  CHECK_THROWS_AS(cf::ThreadPoolExecutor(-1), std::invalid_argument);
  CHECK_THROWS_AS(cf::ThreadPoolExecutor({.max_workers = 0}),
                  std::invalid_argument);
  cf::ThreadPoolExecutor three(3);
  CHECK(three.max_workers() == 3);
}

TEST_CASE("threads start lazily, as work arrives", "[thread_pool]") {
  const int before = test::thread_count();
  cf::ThreadPoolExecutor pool(4);
  CHECK(test::thread_count() == before);
  pool.submit([] {}).result(test::hang_guard);
  CHECK(test::thread_count() == before + 1);
}

TEST_CASE("an idle thread is reused before a new one is started",
          "[thread_pool]") {
  const int before = test::thread_count();
  cf::ThreadPoolExecutor pool(4);
  std::set<std::thread::id> ids;
  for (int i = 0; i < 20; ++i) {
    ids.insert(pool.submit([] { return std::this_thread::get_id(); })
                   .result(test::hang_guard));
  }
  CHECK(ids.size() == 1);
  CHECK(test::thread_count() == before + 1);
}

TEST_CASE("no more than max_workers threads are started", "[thread_pool]") {
  const int before = test::thread_count();
  cf::ThreadPoolExecutor pool(3);
  test::Event release;
  std::vector<cf::Future<void>> fs;
  for (int i = 0; i < 20; ++i) {
    fs.push_back(pool.submit([&] { release.wait(); }));
  }
  CHECK(test::thread_count() == before + 3);
  release.set();
  CHECK(cf::wait(fs, test::hang_guard).not_done.empty());
}

TEST_CASE("threads are named <prefix>_<n>", "[thread_pool]") {
  cf::ThreadPoolExecutor pool({.max_workers = 2, .thread_name_prefix = "io"});
  test::Event release;
  auto a = pool.submit([&] {
    release.wait();
    return current_thread_name();
  });
  auto b = pool.submit([] { return current_thread_name(); });
  const std::string second = b.result(test::hang_guard);
  release.set();
  const std::string first = a.result(test::hang_guard);
  CHECK(std::set<std::string>{first, second} ==
        std::set<std::string>{"io_0", "io_1"});
}

TEST_CASE("threads of a pool without a prefix are named after the pool",
          "[thread_pool]") {
  cf::ThreadPoolExecutor pool(1);
  const std::string name =
      pool.submit(current_thread_name).result(test::hang_guard);
  // Linux keeps 15 bytes of "ThreadPoolExecutor-<k>_0".
  CHECK(name.rfind("ThreadPoolExecu", 0) == 0);
}

TEST_CASE("the initializer runs in each worker before its calls",
          "[thread_pool]") {
  std::atomic<int> runs = 0;
  cf::ThreadPoolExecutor pool({.max_workers = 2, .initializer = [&] {
                                 initialized = true;
                                 ++runs;
                               }});
  test::Event release;
  auto a = pool.submit([&] {
    release.wait();
    return initialized;
  });
  auto b = pool.submit([] { return initialized; });
  CHECK(b.result(test::hang_guard));
  release.set();
  CHECK(a.result(test::hang_guard));
  pool.shutdown(true);
  CHECK(runs == 2);
}

TEST_CASE("a throwing initializer breaks the pool: pending and later calls "
          "get BrokenThreadPool",
          "[thread_pool]") {
  test::Event go;
  test::StderrCapture err;
  cf::ThreadPoolExecutor pool({.max_workers = 1, .initializer = [&] {
                                 go.wait();
                                 throw std::runtime_error("no database");
                               }});
  std::vector<cf::Future<int>> pending;
  for (int i = 0; i < 3; ++i) {
    pending.push_back(pool.submit([i] { return i; }));
  }
  go.set();
  for (auto& f : pending) {
    CHECK_THROWS_AS(f.result(test::hang_guard), cf::BrokenThreadPool);
  }
  CHECK_THROWS_AS(pool.submit([] { return 0; }), cf::BrokenThreadPool);
  pool.shutdown(true);
  const std::string text = err.text();
  CHECK(text.find("exception in initializer: no database") !=
        std::string::npos);
}

TEST_CASE("an initializer throwing a non-std exception breaks the pool too",
          "[thread_pool]") {
  test::StderrCapture err;
  cf::ThreadPoolExecutor pool(
      {.max_workers = 2, .initializer = [] { throw 7; }});
  auto f = pool.submit([] {});
  CHECK_THROWS_AS(f.result(test::hang_guard), cf::BrokenThreadPool);
  CHECK_THROWS_AS(pool.submit([] {}), cf::BrokenExecutor);
}

TEST_CASE("a call may shut down its own pool", "[thread_pool]") {
  cf::ThreadPoolExecutor pool(2);
  auto f = pool.submit([&pool] {
    pool.shutdown(true); // cannot wait for itself; must not deadlock
    return 1;
  });
  CHECK(f.result(test::hang_guard) == 1);
  CHECK_THROWS_AS(pool.submit([] {}), std::runtime_error);
}

// What only a pool whose workers share the caller's memory can do.

namespace {
struct CustomError : std::exception {
  const char* what() const noexcept override { return "custom"; }
};
} // namespace

TEST_CASE("std::ref passes a reference to a thread pool's call",
          "[thread_pool]") {
  cf::ThreadPoolExecutor pool(1);
  int counter = 0;
  pool.submit([](int& c) { c = 7; }, std::ref(counter))
      .result(test::hang_guard);
  CHECK(counter == 7);
}

TEST_CASE("a thread pool takes move-only callables and arguments",
          "[thread_pool]") {
  cf::ThreadPoolExecutor pool(2);
  auto p = std::make_unique<int>(5);
  auto f = pool.submit(
      [q = std::move(p)](std::unique_ptr<int> r) { return *q + *r; },
      std::make_unique<int>(6));
  CHECK(f.result(test::hang_guard) == 11);
  auto g = pool.submit([] { return std::make_unique<std::string>("owned"); });
  CHECK(*g.result(test::hang_guard) == "owned");
}

TEST_CASE("the callable and its arguments are released once the call has run",
          "[thread_pool]") {
  cf::ThreadPoolExecutor pool(1);
  auto shared = std::make_shared<int>(1);
  auto f = pool.submit([](std::shared_ptr<int> s) { return *s; }, shared);
  CHECK(f.result(test::hang_guard) == 1);
  CHECK(shared.use_count() == 1); // while the future still lives
}

namespace {

// Counts its live copies: a call's slot holds the callable, its arguments,
// then its result or exception, and must destroy each exactly once.
struct Counted {
  static inline std::atomic<int> live{0};
  int value = 0;
  explicit Counted(int v) : value(v) { ++live; }
  Counted(const Counted& other) : value(other.value) { ++live; }
  Counted(Counted&& other) noexcept : value(other.value) { ++live; }
  ~Counted() { --live; }
};

} // namespace

TEST_CASE("whatever its outcome, every object a call held is destroyed once",
          "[thread_pool]") {
  {
    cf::ThreadPoolExecutor pool(1);
    test::Event release;
    auto blocker = pool.submit([&release] { release.wait(); });
    auto value = pool.submit(
        [c = Counted(1)](Counted arg) { return Counted(c.value + arg.value); },
        Counted(2));
    auto error = pool.submit(
        [c = Counted(3)](Counted) -> Counted { throw std::runtime_error("x"); },
        Counted(4));
    auto cancelled =
        pool.submit([c = Counted(5)](Counted arg) { return arg; }, Counted(6));
    auto unread = pool.submit([c = Counted(7)] { return Counted(c.value); });
    CHECK(cancelled.cancel());
    CHECK(Counted::live > 0);
    release.set();
    CHECK(value.result(test::hang_guard).value == 3);
    CHECK_THROWS_AS(error.result(test::hang_guard), std::runtime_error);
    // Joins the worker: it empties a call's slot just after publishing it.
    pool.shutdown();
    CHECK(unread.done());
    CHECK(Counted::live == 2); // the results held by `value` and `unread`
  }
  CHECK(Counted::live == 0);
}

TEST_CASE("a thread pool's call may throw any type, and its future holds "
          "that very exception",
          "[thread_pool]") {
  cf::ThreadPoolExecutor pool(2);
  auto custom = pool.submit([] { throw CustomError(); });
  CHECK_THROWS_AS(custom.result(test::hang_guard), CustomError);
  auto not_std = pool.submit([] { throw 42; });
  CHECK_THROWS_AS(not_std.result(test::hang_guard), int);
  auto a_string = pool.submit([]() -> double { throw std::string("text"); });
  CHECK_THROWS_AS(a_string.result(test::hang_guard), std::string);
  CHECK(pool.submit(add, 1, 2).result(test::hang_guard) == 3);
}

TEST_CASE("a call may submit more work to its own thread pool",
          "[thread_pool]") {
  cf::ThreadPoolExecutor pool(1);
  auto outer = pool.submit([&pool] { return pool.submit(add, 20, 22); });
  auto inner = outer.result(test::hang_guard);
  CHECK(inner.result(test::hang_guard) == 42);
}

#if defined(__x86_64__)

TEST_CASE("a thread pool that can start no thread refuses the call, and "
          "stays usable",
          "[thread_pool]") {
  CHECK(test::in_child([] {
          cf::ThreadPoolExecutor pool(2);
          if (!test::forbid_new_threads()) {
            return 2;
          }
          try {
            (void)pool.submit(add, 1, 2);
            return 3; // accepted, but no thread could ever run it
          } catch (const std::system_error&) {
          }
          const std::vector<int> xs{1, 2, 3};
          try {
            (void)pool.map([](int x) { return x; }, xs);
            return 4;
          } catch (const std::system_error&) {
          }
          pool.shutdown(true); // nothing queued, nothing to wait for
          return 0;
        }) == 0);
}

TEST_CASE("a thread pool that cannot start another thread runs the calls on "
          "the threads it has",
          "[thread_pool]") {
  CHECK(test::in_child([] {
          cf::ThreadPoolExecutor pool(4);
          test::Event release;
          auto first = pool.submit([&] {
            release.wait();
            return 1;
          });
          if (!test::forbid_new_threads()) {
            return 2;
          }
          std::vector<int> xs(300, 1);          // several of map()'s batches
          auto second = pool.submit(add, 1, 1); // no new thread: queued
          release.set();
          int sum = 0;
          for (int x : pool.map([](int x) { return x; }, xs)) {
            sum += x;
          }
          if (first.result(test::hang_guard) != 1 ||
              second.result(test::hang_guard) != 2 || sum != 300) {
            return 5;
          }
          return 0;
        }) == 0);
}
#endif
