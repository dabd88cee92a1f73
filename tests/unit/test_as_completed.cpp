// as_completed(): futures in completion order, with a deadline from the call.

#include "catch.hpp"
#include "sync.hpp"

#include <concurrent/futures/as_completed.hpp>
#include <concurrent/futures/thread.hpp>

#include <chrono>
#include <ranges>
#include <thread>
#include <vector>

namespace cf = concurrent::futures;
using namespace std::chrono_literals;

TEST_CASE("as_completed() yields already-done futures first, then in "
          "completion order",
          "[as_completed]") {
  std::vector<cf::Future<int>> fs(5);
  fs[3].set_result(3);
  fs[1].set_result(1);
  auto range = cf::as_completed(fs, test::hang_guard);
  fs[4].set_result(4);
  fs[0].cancel();
  fs[2].set_result(2);
  std::vector<cf::Future<int>> order;
  for (auto f : range) {
    order.push_back(f);
  }
  CHECK(order == std::vector{fs[1], fs[3], fs[4], fs[0], fs[2]});
}

TEST_CASE("as_completed() returns an input range of the futures' type",
          "[as_completed]") {
  using Range = cf::AsCompleted<cf::Future<int>>;
  STATIC_REQUIRE(std::ranges::input_range<Range>);
  STATIC_REQUIRE(
      std::is_same_v<std::ranges::range_value_t<Range>, cf::Future<int>>);
  STATIC_REQUIRE(std::ranges::input_range<cf::AsCompleted<cf::AnyFuture>>);
}

TEST_CASE("as_completed() yields each future once", "[as_completed]") {
  cf::Future<int> a;
  cf::Future<int> b;
  b.set_result(0);
  std::vector<cf::Future<int>> fs{a, b, a, b, a};
  std::jthread finisher([a]() mutable { a.set_result(1); });
  int count = 0;
  for (auto f : cf::as_completed(fs)) {
    CHECK(f.done());
    ++count;
  }
  CHECK(count == 2);
}

TEST_CASE("as_completed() of nothing is empty", "[as_completed]") {
  std::vector<cf::AnyFuture> none;
  auto range = cf::as_completed(none, 0s);
  CHECK(range.begin() == range.end());
}

TEST_CASE("as_completed() waits for futures completed by other threads",
          "[as_completed]") {
  cf::ThreadPoolExecutor pool(4);
  std::vector<cf::Future<int>> fs;
  for (int i = 0; i < 50; ++i) {
    fs.push_back(pool.submit([i] { return i; }));
  }
  int sum = 0;
  int count = 0;
  for (const auto& f : cf::as_completed(fs, test::hang_guard)) {
    sum += f.result();
    ++count;
  }
  CHECK(count == 50);
  CHECK(sum == 49 * 50 / 2);
}

TEST_CASE("as_completed() throws TimeoutError when the deadline passes",
          "[as_completed]") {
  std::vector<cf::Future<int>> fs(2);
  fs[0].set_result(0);
  auto range = cf::as_completed(fs, 20ms);
  auto it = range.begin(); // the done one comes first, timeout or not
  CHECK(*it == fs[0]);
  CHECK_THROWS_AS(++it, cf::TimeoutError);
}

TEST_CASE("as_completed()'s deadline runs from the call, not the first read",
          "[as_completed]") {
  std::vector<cf::Future<int>> fs(1);
  auto range = cf::as_completed(fs, 100ms);
  // Let the whole timeout pass before reading (a pending future's own
  // timeout measures it).
  cf::Future<void> never;
  CHECK_THROWS_AS(never.result(200ms), cf::TimeoutError);
  const auto before = std::chrono::steady_clock::now();
  CHECK_THROWS_AS(range.begin(), cf::TimeoutError);
  // Had the deadline started at begin(), it would have waited 100ms more.
  CHECK(std::chrono::steady_clock::now() - before < 90ms);
}

TEST_CASE("as_completed() yields a future cancelled while waiting",
          "[as_completed]") {
  std::vector<cf::Future<int>> fs(1);
  test::Event waiting;
  std::jthread canceller([f = fs[0], &waiting]() mutable {
    waiting.wait();
    f.cancel();
  });
  auto range = cf::as_completed(fs, test::hang_guard);
  waiting.set();
  auto it = range.begin();
  CHECK(it->cancelled());
  ++it;
  CHECK(it == range.end());
}

TEST_CASE("as_completed() over AnyFuture mixes result types",
          "[as_completed]") {
  cf::Future<int> i;
  cf::Future<std::string> s;
  std::vector<cf::AnyFuture> fs{i, s};
  s.set_result("x");
  auto range = cf::as_completed(fs);
  i.set_result(1);
  std::vector<cf::AnyFuture> order;
  for (auto f : range) {
    order.push_back(f);
  }
  CHECK(order == std::vector<cf::AnyFuture>{s, i});
}

TEST_CASE("as_completed() takes a braced list of futures", "[as_completed]") {
  cf::Future<int> a;
  cf::Future<int> b;
  b.set_result(2);
  a.set_result(1);
  std::vector<cf::Future<int>> order;
  for (auto f : cf::as_completed({a, b}, test::hang_guard)) {
    order.push_back(f);
  }
  CHECK(order == std::vector{a, b}); // both done at the call: input order
}
