// The executor contract: what every pool must do, run against each pool type
// at several worker counts.

#include "catch.hpp"
#include "executors.hpp"
#include "sync.hpp"

#include <concurrent/futures/executor.hpp>
#include <concurrent/futures/wait.hpp>

#include <atomic>
#include <functional>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace cf = concurrent::futures;
using namespace std::chrono_literals;

namespace {

struct CustomError : std::exception {
  const char* what() const noexcept override { return "custom"; }
};

int add(int a, int b) { return a + b; }

} // namespace

TEMPLATE_TEST_CASE("submit() returns a future of the call's result",
                   "[executor]", CF_EXECUTOR_TYPES) {
  const int workers = GENERATE(1, 2, 4);
  auto pool = test::Make<TestType>::make(workers);
  auto f = pool.submit(add, 2, 3);
  STATIC_REQUIRE(std::is_same_v<decltype(f), cf::Future<int>>);
  CHECK(f.result(test::hang_guard) == 5);
  auto s = pool.submit([](std::string a) { return a + "!"; }, "hi");
  CHECK(s.result(test::hang_guard) == "hi!");
  auto v = pool.submit([] {});
  v.result(test::hang_guard);
  CHECK(v.done());
}

TEMPLATE_TEST_CASE("submit() works through Executor&", "[executor]",
                   CF_EXECUTOR_TYPES) {
  auto pool = test::Make<TestType>::make(2);
  cf::Executor& ex = pool;
  CHECK(ex.submit(add, 40, 2).result(test::hang_guard) == 42);
}

TEMPLATE_TEST_CASE("submit() copies its arguments; std::ref passes a "
                   "reference",
                   "[executor]", CF_EXECUTOR_TYPES) {
  auto pool = test::Make<TestType>::make(1);
  std::string text = "before";
  test::Event release;
  auto copied = pool.submit(
      [&release](const std::string& s) {
        release.wait();
        return s;
      },
      text);
  text = "after";
  release.set();
  CHECK(copied.result(test::hang_guard) == "before");
  int counter = 0;
  pool.submit([](int& c) { c = 7; }, std::ref(counter))
      .result(test::hang_guard);
  CHECK(counter == 7);
}

TEMPLATE_TEST_CASE("submit() takes move-only callables and arguments",
                   "[executor]", CF_EXECUTOR_TYPES) {
  auto pool = test::Make<TestType>::make(2);
  auto p = std::make_unique<int>(5);
  auto f = pool.submit(
      [q = std::move(p)](std::unique_ptr<int> r) { return *q + *r; },
      std::make_unique<int>(6));
  CHECK(f.result(test::hang_guard) == 11);
  auto g = pool.submit([] { return std::make_unique<std::string>("owned"); });
  CHECK(*g.result(test::hang_guard) == "owned");
}

TEMPLATE_TEST_CASE("the callable and its arguments are released once the "
                   "call has run",
                   "[executor]", CF_EXECUTOR_TYPES) {
  auto pool = test::Make<TestType>::make(1);
  auto shared = std::make_shared<int>(1);
  auto f = pool.submit([](std::shared_ptr<int> s) { return *s; }, shared);
  CHECK(f.result(test::hang_guard) == 1);
  CHECK(shared.use_count() == 1); // while the future still lives
}

TEMPLATE_TEST_CASE("a call that throws completes its future with that "
                   "exception, whatever its type",
                   "[executor]", CF_EXECUTOR_TYPES) {
  auto pool = test::Make<TestType>::make(2);
  auto std_error =
      pool.submit([]() -> int { throw std::invalid_argument("bad"); });
  CHECK_THROWS_AS(std_error.result(test::hang_guard), std::invalid_argument);
  CHECK_THROWS_WITH(std_error.result(), "bad");
  auto custom = pool.submit([] { throw CustomError(); });
  CHECK_THROWS_AS(custom.result(test::hang_guard), CustomError);
  auto not_std = pool.submit([] { throw 42; });
  CHECK_THROWS_AS(not_std.result(test::hang_guard), int);
  auto a_string = pool.submit([]() -> double { throw std::string("text"); });
  CHECK_THROWS_AS(a_string.result(test::hang_guard), std::string);
  CHECK(a_string.exception() != nullptr);
}

TEMPLATE_TEST_CASE("a worker survives a call that throws", "[executor]",
                   CF_EXECUTOR_TYPES) {
  auto pool = test::Make<TestType>::make(1);
  auto bad = pool.submit([] {
    throw 1;
    return std::this_thread::get_id();
  });
  CHECK_THROWS_AS(bad.result(test::hang_guard), int);
  auto good = pool.submit([] { return 3; });
  CHECK(good.result(test::hang_guard) == 3);
}

TEMPLATE_TEST_CASE("calls start in the order they were submitted", "[executor]",
                   CF_EXECUTOR_TYPES) {
  auto pool = test::Make<TestType>::make(1);
  std::mutex m;
  std::vector<int> order;
  std::vector<cf::Future<void>> fs;
  for (int i = 0; i < 100; ++i) {
    fs.push_back(pool.submit([&, i] {
      std::lock_guard lock(m);
      order.push_back(i);
    }));
  }
  CHECK(cf::wait(fs, test::hang_guard).not_done.empty());
  std::lock_guard lock(m);
  REQUIRE(order.size() == 100);
  for (int i = 0; i < 100; ++i) {
    CHECK(order[static_cast<std::size_t>(i)] == i);
  }
}

TEMPLATE_TEST_CASE("done callbacks of a submitted call see its result",
                   "[executor]", CF_EXECUTOR_TYPES) {
  auto pool = test::Make<TestType>::make(2);
  test::Event called;
  std::atomic<int> seen = 0;
  auto f = pool.submit(add, 1, 1);
  f.add_done_callback([&](const cf::Future<int>& g) {
    seen = g.result();
    called.set();
  });
  REQUIRE(called.wait());
  CHECK(seen == 2);
}

TEMPLATE_TEST_CASE("cancel() succeeds for a queued call, which then never "
                   "runs, and fails for a running one",
                   "[executor]", CF_EXECUTOR_TYPES) {
  auto pool = test::Make<TestType>::make(1);
  test::Event started;
  test::Event release;
  std::atomic<bool> ran = false;
  auto running = pool.submit([&] {
    started.set();
    release.wait();
  });
  auto queued = pool.submit([&] { ran = true; });
  REQUIRE(started.wait());
  CHECK_FALSE(running.cancel());
  CHECK(running.running());
  CHECK(queued.cancel());
  CHECK(queued.done());
  release.set();
  running.result(test::hang_guard);
  pool.shutdown(true);
  CHECK_FALSE(ran);
  CHECK_THROWS_AS(queued.result(), cf::CancelledError);
}

TEMPLATE_TEST_CASE("shutdown() is idempotent", "[executor][shutdown]",
                   CF_EXECUTOR_TYPES) {
  auto pool = test::Make<TestType>::make(2);
  auto f = pool.submit(add, 1, 2);
  pool.shutdown();
  pool.shutdown();
  pool.shutdown(false, true);
  pool.shutdown(true);
  CHECK(f.result() == 3);
}

TEMPLATE_TEST_CASE("submit() and map() after shutdown() throw "
                   "std::runtime_error",
                   "[executor][shutdown]", CF_EXECUTOR_TYPES) {
  auto pool = test::Make<TestType>::make(2);
  pool.shutdown();
  CHECK_THROWS_AS(pool.submit(add, 1, 2), std::runtime_error);
  CHECK_THROWS_WITH(pool.submit(add, 1, 2),
                    "cannot schedule new futures after shutdown");
  bool broken = false;
  try {
    (void)pool.submit(add, 1, 2);
  } catch (const cf::BrokenExecutor&) {
    broken = true;
  } catch (const std::runtime_error&) {
  }
  CHECK_FALSE(broken);
  std::vector<int> xs{1};
  CHECK_THROWS_AS(pool.map([](int x) { return x; }, xs), std::runtime_error);
}

TEMPLATE_TEST_CASE("shutdown(wait=true) returns after every pending call ran",
                   "[executor][shutdown]", CF_EXECUTOR_TYPES) {
  const int workers = GENERATE(1, 2, 4);
  auto pool = test::Make<TestType>::make(workers);
  std::atomic<int> ran = 0;
  std::vector<cf::Future<void>> fs;
  for (int i = 0; i < 50; ++i) {
    fs.push_back(pool.submit([&] { ++ran; }));
  }
  pool.shutdown(true);
  CHECK(ran == 50);
  for (auto& f : fs) {
    CHECK(f.done());
  }
}

TEMPLATE_TEST_CASE("shutdown(cancel_futures=true) cancels only the calls not "
                   "yet started",
                   "[executor][shutdown]", CF_EXECUTOR_TYPES) {
  auto pool = test::Make<TestType>::make(1);
  test::Event started;
  test::Event release;
  auto running = pool.submit([&] {
    started.set();
    release.wait();
    return 1;
  });
  std::vector<cf::Future<int>> queued;
  for (int i = 0; i < 5; ++i) {
    queued.push_back(pool.submit([i] { return i; }));
  }
  REQUIRE(started.wait());
  pool.shutdown(false, true);
  for (auto& f : queued) {
    CHECK(f.cancelled());
  }
  CHECK_FALSE(running.cancelled());
  release.set();
  CHECK(running.result(test::hang_guard) == 1);
  pool.shutdown(true);
}

TEMPLATE_TEST_CASE("shutdown(wait=false) returns at once and the workers "
                   "still finish the work",
                   "[executor][shutdown]", CF_EXECUTOR_TYPES) {
  auto pool = test::Make<TestType>::make(2);
  test::Event release;
  auto blocked = pool.submit([&] {
    release.wait();
    return 5;
  });
  auto queued = pool.submit([] { return 6; });
  pool.shutdown(false); // must not wait for `blocked`
  CHECK_FALSE(blocked.done());
  release.set();
  CHECK(blocked.result(test::hang_guard) == 5);
  CHECK(queued.result(test::hang_guard) == 6);
}

TEMPLATE_TEST_CASE("the destructor waits for pending calls",
                   "[executor][shutdown]", CF_EXECUTOR_TYPES) {
  std::atomic<int> ran = 0;
  std::vector<cf::Future<void>> fs;
  {
    auto pool = test::Make<TestType>::make(2);
    for (int i = 0; i < 20; ++i) {
      fs.push_back(pool.submit([&] { ++ran; }));
    }
  }
  CHECK(ran == 20);
}

TEMPLATE_TEST_CASE("a call may submit more work to its own pool", "[executor]",
                   CF_EXECUTOR_TYPES) {
  auto pool = test::Make<TestType>::make(1);
  auto outer = pool.submit([&pool] { return pool.submit(add, 20, 22); });
  auto inner = outer.result(test::hang_guard);
  CHECK(inner.result(test::hang_guard) == 42);
}
