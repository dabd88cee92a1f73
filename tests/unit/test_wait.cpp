// wait(): ALL_COMPLETED, FIRST_COMPLETED, FIRST_EXCEPTION, timeouts.

#include "catch.hpp"
#include "sync.hpp"

#include <concurrent/futures/thread.hpp>
#include <concurrent/futures/wait.hpp>

#include <list>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace cf = concurrent::futures;
using namespace std::chrono_literals;

namespace {
cf::Future<int> finished(int v) {
  cf::Future<int> f;
  f.set_result(v);
  return f;
}
cf::Future<int> failed() {
  cf::Future<int> f;
  f.set_exception(std::make_exception_ptr(std::runtime_error("x")));
  return f;
}
cf::Future<int> cancelled() {
  cf::Future<int> f;
  f.cancel();
  return f;
}
} // namespace

TEST_CASE("wait() with ALL_COMPLETED returns when every future is done",
          "[wait]") {
  std::vector<cf::Future<int>> fs{cf::Future<int>{}, cf::Future<int>{},
                                  finished(1)};
  std::jthread finisher([fs]() mutable {
    fs[0].set_result(0);
    fs[1].cancel();
  });
  auto [done, not_done] = cf::wait(fs);
  CHECK(done.size() == 3);
  CHECK(not_done.empty());
}

TEST_CASE("wait() of nothing returns empty sets at once", "[wait]") {
  std::vector<cf::Future<int>> none;
  for (auto when :
       {cf::ALL_COMPLETED, cf::FIRST_COMPLETED, cf::FIRST_EXCEPTION}) {
    auto [done, not_done] = cf::wait(none, when);
    CHECK(done.empty());
    CHECK(not_done.empty());
  }
}

TEST_CASE("wait() with FIRST_COMPLETED returns when any future completes",
          "[wait]") {
  std::vector<cf::Future<int>> fs(3);
  test::Event go;
  std::jthread finisher([f = fs[1], &go]() mutable {
    go.wait();
    f.set_result(1);
  });
  go.set();
  auto [done, not_done] = cf::wait(fs, test::hang_guard, cf::FIRST_COMPLETED);
  REQUIRE(done.size() == 1);
  CHECK(done.count(fs[1]) == 1);
  CHECK(not_done.size() == 2);
}

TEST_CASE("wait() with FIRST_COMPLETED returns at once if a future is already "
          "done",
          "[wait]") {
  std::vector<cf::Future<int>> fs{cf::Future<int>{}, finished(2)};
  auto r = cf::wait(fs, cf::FIRST_COMPLETED); // no timeout: must not block
  CHECK(r.done.count(fs[1]) == 1);
  CHECK(r.not_done.count(fs[0]) == 1);
}

TEST_CASE("wait() with FIRST_EXCEPTION returns when a future raises",
          "[wait]") {
  std::vector<cf::Future<int>> fs(3);
  std::jthread finisher([fs]() mutable {
    fs[0].set_result(0);
    fs[2].set_exception(std::make_exception_ptr(std::runtime_error("boom")));
  });
  auto [done, not_done] = cf::wait(fs, cf::FIRST_EXCEPTION);
  CHECK(done.count(fs[2]) == 1);
  CHECK(not_done.count(fs[1]) == 1);
}

TEST_CASE("wait() with FIRST_EXCEPTION returns at once if a future already "
          "raised",
          "[wait]") {
  std::vector<cf::Future<int>> fs{cf::Future<int>{}, failed()};
  auto [done, not_done] = cf::wait(fs, cf::FIRST_EXCEPTION);
  CHECK(done.size() == 1);
  CHECK(not_done.size() == 1);
}

TEST_CASE("wait() with FIRST_EXCEPTION behaves as ALL_COMPLETED when nothing "
          "raises",
          "[wait]") {
  std::vector<cf::Future<int>> fs(3);
  std::jthread finisher([fs]() mutable {
    fs[0].set_result(0);
    fs[1].cancel(); // a cancellation is not an exception
    fs[2].set_result(2);
  });
  auto [done, not_done] = cf::wait(fs, test::hang_guard, cf::FIRST_EXCEPTION);
  CHECK(done.size() == 3);
  CHECK(not_done.empty());
}

TEST_CASE("wait() returns what is done when the timeout passes", "[wait]") {
  std::vector<cf::Future<int>> fs{finished(1), cf::Future<int>{},
                                  cf::Future<int>{}};
  auto [done, not_done] = cf::wait(fs, 20ms);
  CHECK(done.size() == 1);
  CHECK(not_done.size() == 2);
  auto first = cf::wait(std::vector{fs[1]}, 1ms, cf::FIRST_COMPLETED);
  CHECK(first.done.empty());
  CHECK(first.not_done.size() == 1);
}

TEST_CASE("wait() counts duplicates once", "[wait]") {
  cf::Future<int> a;
  cf::Future<int> b = finished(1);
  std::vector<cf::Future<int>> fs{a, a, b, b, a};
  auto [done, not_done] = cf::wait(fs, 1ms);
  CHECK(done.size() == 1);
  CHECK(not_done.size() == 1);
  a.set_result(2);
  auto again = cf::wait(fs);
  CHECK(again.done.size() == 2);
}

TEST_CASE("a cancelled future is done for wait() at once", "[wait]") {
  std::vector<cf::Future<int>> fs{cancelled(), cf::Future<int>{}};
  auto [done, not_done] = cf::wait(fs, cf::FIRST_COMPLETED);
  CHECK(done.count(fs[0]) == 1);

  // and cancelling wakes a waiter straight away
  test::Event waiting;
  std::jthread canceller([f = fs[1], &waiting]() mutable {
    waiting.wait();
    f.cancel();
  });
  waiting.set();
  auto all = cf::wait(fs, test::hang_guard);
  CHECK(all.done.size() == 2);
}

TEST_CASE("wait() takes futures of different executors and result types "
          "through AnyFuture",
          "[wait]") {
  cf::ThreadPoolExecutor a(1);
  cf::ThreadPoolExecutor b(2);
  std::vector<cf::AnyFuture> fs{a.submit([] { return 1; }),
                                b.submit([] { return std::string("two"); }),
                                b.submit([] {}), cf::Future<double>{}};
  auto [done, not_done] = cf::wait(fs, 50ms);
  CHECK(done.size() == 3);
  CHECK(not_done.size() == 1);
  CHECK(not_done.count(fs[3]) == 1);
}

TEST_CASE("wait() takes any input range of futures", "[wait]") {
  std::list<cf::Future<int>> fs{finished(1), finished(2)};
  auto [done, not_done] = cf::wait(fs);
  CHECK(done.size() == 2);
  const std::vector<cf::Future<int>> cfs{finished(3)};
  CHECK(cf::wait(cfs).done.size() == 1);
}

TEST_CASE("wait() takes a braced list of futures", "[wait]") {
  cf::Future<int> a = finished(1);
  cf::Future<int> b;
  auto [done, not_done] = cf::wait({a, b}, 1ms);
  CHECK(done.count(a) == 1);
  CHECK(not_done.count(b) == 1);
  b.set_result(2);
  CHECK(cf::wait({a, b}).done.size() == 2);
  cf::Future<std::string> s;
  s.set_result("s");
  CHECK(cf::wait({cf::AnyFuture(a), cf::AnyFuture(s)}, cf::FIRST_COMPLETED)
            .done.size() == 2);
}
