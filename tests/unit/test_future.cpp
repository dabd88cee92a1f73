// Future<T> and AnyFuture: the state machine of Python's Future.

#include "catch.hpp"
#include "sync.hpp"

#include <concurrent/futures/future.hpp>
#include <concurrent/futures/serialization.hpp>

#include <memory>
#include <stdexcept>
#include <string>
#include <thread>
#include <unordered_set>
#include <vector>

namespace cf = concurrent::futures;
using namespace std::chrono_literals;

TEST_CASE("a new future is pending", "[future]") {
  cf::Future<int> f;
  CHECK_FALSE(f.running());
  CHECK_FALSE(f.done());
  CHECK_FALSE(f.cancelled());
}

TEST_CASE("cancel() of a pending future returns true and makes it done",
          "[future]") {
  cf::Future<int> f;
  CHECK(f.cancel());
  CHECK(f.cancelled());
  CHECK(f.done());
  CHECK_FALSE(f.running());
  CHECK(f.cancel()); // cancelling again still says it is cancelled
}

TEST_CASE("cancel() of a running future returns false", "[future]") {
  cf::Future<int> f;
  REQUIRE(f.set_running_or_notify_cancel());
  CHECK(f.running());
  CHECK_FALSE(f.cancel());
  CHECK(f.running());
  CHECK_FALSE(f.cancelled());
}

TEST_CASE("cancel() of a finished future returns false", "[future]") {
  cf::Future<int> f;
  f.set_result(1);
  CHECK_FALSE(f.cancel());
  CHECK_FALSE(f.cancelled());
  CHECK(f.done());
}

TEST_CASE("set_running_or_notify_cancel() marks a pending future running",
          "[future]") {
  cf::Future<void> f;
  CHECK(f.set_running_or_notify_cancel());
  CHECK(f.running());
  CHECK_FALSE(f.done());
}

TEST_CASE("set_running_or_notify_cancel() returns false for a cancelled future",
          "[future]") {
  cf::Future<int> f;
  REQUIRE(f.cancel());
  CHECK_FALSE(f.set_running_or_notify_cancel());
  CHECK(f.cancelled());
  CHECK(f.done());
  CHECK_THROWS_AS(f.result(), cf::CancelledError);
}

TEST_CASE("set_running_or_notify_cancel() of a running or finished future "
          "throws InvalidStateError",
          "[future]") {
  cf::Future<int> running;
  REQUIRE(running.set_running_or_notify_cancel());
  CHECK_THROWS_AS(running.set_running_or_notify_cancel(),
                  cf::InvalidStateError);
  cf::Future<int> finished;
  finished.set_result(3);
  CHECK_THROWS_AS(finished.set_running_or_notify_cancel(),
                  cf::InvalidStateError);
}

TEST_CASE("set_result() and set_exception() of a done future throw "
          "InvalidStateError",
          "[future]") {
  cf::Future<int> finished;
  finished.set_result(1);
  CHECK_THROWS_AS(finished.set_result(2), cf::InvalidStateError);
  CHECK_THROWS_AS(finished.set_exception(std::make_exception_ptr(1)),
                  cf::InvalidStateError);
  CHECK(finished.result() == 1);

  cf::Future<int> failed;
  failed.set_exception(std::make_exception_ptr(std::runtime_error("x")));
  CHECK_THROWS_AS(failed.set_result(2), cf::InvalidStateError);

  cf::Future<void> cancelled;
  REQUIRE(cancelled.cancel());
  CHECK_THROWS_AS(cancelled.set_result(), cf::InvalidStateError);
  CHECK_THROWS_AS(cancelled.set_exception(std::make_exception_ptr(1)),
                  cf::InvalidStateError);
  CHECK(cancelled.cancelled());
}

TEST_CASE("set_result() works on a pending and on a running future",
          "[future]") {
  cf::Future<std::string> pending;
  pending.set_result("a");
  CHECK(pending.result() == "a");
  cf::Future<std::string> running;
  REQUIRE(running.set_running_or_notify_cancel());
  running.set_result("b");
  CHECK(running.done());
  CHECK_FALSE(running.running());
  CHECK(running.result() == "b");
}

TEST_CASE("set_exception() needs an exception", "[future]") {
  cf::Future<int> f;
  CHECK_THROWS_AS(f.set_exception(nullptr), std::invalid_argument);
  CHECK_FALSE(f.done());
}

TEST_CASE("result() returns the value and exception() returns null",
          "[future]") {
  cf::Future<int> f;
  f.set_result(42);
  CHECK(f.result() == 42);
  CHECK(f.result(0s) == 42);
  CHECK(f.exception() == nullptr);
  CHECK(f.exception(1ms) == nullptr);
}

TEST_CASE("result() rethrows the exception, exception() returns it",
          "[future]") {
  cf::Future<int> f;
  f.set_exception(std::make_exception_ptr(std::out_of_range("bad index")));
  CHECK_THROWS_AS(f.result(), std::out_of_range);
  CHECK_THROWS_WITH(f.result(), "bad index");
  const std::exception_ptr e = f.exception();
  REQUIRE(e != nullptr);
  CHECK_THROWS_AS(std::rethrow_exception(e), std::out_of_range);
}

TEST_CASE("result() and exception() of a cancelled future throw "
          "CancelledError",
          "[future]") {
  cf::Future<int> f;
  REQUIRE(f.cancel());
  CHECK_THROWS_AS(f.result(), cf::CancelledError);
  CHECK_THROWS_AS(f.result(1s), cf::CancelledError);
  CHECK_THROWS_AS(f.exception(), cf::CancelledError);
  CHECK_THROWS_AS(f.exception(1s), cf::CancelledError);
}

TEST_CASE("result() and exception() with a timeout throw TimeoutError while "
          "pending",
          "[future]") {
  cf::Future<int> f;
  CHECK_THROWS_AS(f.result(10ms), cf::TimeoutError);
  CHECK_THROWS_AS(f.exception(10ms), cf::TimeoutError);
  CHECK_THROWS_AS(f.result(0s), cf::TimeoutError);
  CHECK_THROWS_AS(f.result(-5s), cf::TimeoutError);
  REQUIRE(f.set_running_or_notify_cancel());
  CHECK_THROWS_AS(f.result(std::chrono::duration<double>(0.01)),
                  cf::TimeoutError);
}

TEST_CASE("a timeout too large for the clock means no limit", "[future]") {
  cf::Future<int> f;
  f.set_result(5);
  CHECK(f.result(std::chrono::hours::max()) == 5);
  CHECK(f.result(std::chrono::duration<double>::max()) == 5);
  CHECK(f.exception(std::chrono::nanoseconds::max()) == nullptr);
}

TEST_CASE("result() blocks until another thread sets the result", "[future]") {
  cf::Future<int> f;
  test::Event waiting;
  std::jthread setter([&] {
    waiting.wait();
    f.set_result(7);
  });
  waiting.set();
  CHECK(f.result(test::hang_guard) == 7);
}

TEST_CASE("cancel() wakes a thread blocked in result()", "[future]") {
  cf::Future<int> f;
  test::Event started;
  std::jthread blocked([&] {
    started.set();
    CHECK_THROWS_AS(f.result(test::hang_guard), cf::CancelledError);
  });
  REQUIRE(started.wait());
  CHECK(f.cancel());
}

TEST_CASE("Future<void> finishes without a value", "[future]") {
  cf::Future<void> f;
  f.set_result();
  f.result();
  CHECK(f.done());
  cf::Future<void> g;
  g.set_exception(std::make_exception_ptr(std::logic_error("no")));
  CHECK_THROWS_AS(g.result(), std::logic_error);
}

TEST_CASE("a move-only result is kept in the future", "[future]") {
  cf::Future<std::unique_ptr<int>> f;
  f.set_result(std::make_unique<int>(9));
  const std::unique_ptr<int>& p = f.result();
  REQUIRE(p != nullptr);
  CHECK(*p == 9);
  CHECK(&f.result() == &p); // the same stored object each time
}

TEST_CASE("copies share one state and compare equal", "[future]") {
  cf::Future<int> a;
  cf::Future<int> b = a;
  cf::Future<int> c;
  CHECK(a == b);
  CHECK_FALSE(a == c);
  CHECK(std::hash<cf::Future<int>>{}(a) == std::hash<cf::Future<int>>{}(b));
  b.set_result(1);
  CHECK(a.done());
  CHECK(a.result() == 1);
  std::unordered_set<cf::Future<int>> set{a, b, c};
  CHECK(set.size() == 2);
}

TEST_CASE("done callbacks run in the order added when the future finishes",
          "[future][callbacks]") {
  cf::Future<int> f;
  std::vector<int> order;
  f.add_done_callback([&](const cf::Future<int>& g) {
    CHECK(g == f);
    CHECK(g.result() == 5);
    order.push_back(1);
  });
  f.add_done_callback([&](const cf::Future<int>&) { order.push_back(2); });
  f.add_done_callback([&](const cf::Future<int>&) { order.push_back(3); });
  CHECK(order.empty());
  f.set_result(5);
  CHECK(order == std::vector<int>{1, 2, 3});
}

TEST_CASE("a done callback added to a done future runs at once",
          "[future][callbacks]") {
  cf::Future<int> f;
  f.set_result(5);
  bool ran = false;
  f.add_done_callback([&](const cf::Future<int>& g) { ran = g.result() == 5; });
  CHECK(ran);
}

TEST_CASE("done callbacks run when the future is cancelled",
          "[future][callbacks]") {
  cf::Future<int> f;
  bool saw_cancelled = false;
  f.add_done_callback(
      [&](const cf::Future<int>& g) { saw_cancelled = g.cancelled(); });
  REQUIRE(f.cancel());
  CHECK(saw_cancelled);
}

TEST_CASE("done callbacks run in the thread that completes the future",
          "[future][callbacks]") {
  cf::Future<int> f;
  std::thread::id ran_on;
  f.add_done_callback(
      [&](const cf::Future<int>&) { ran_on = std::this_thread::get_id(); });
  std::thread::id setter_id;
  std::jthread setter([&] {
    setter_id = std::this_thread::get_id();
    f.set_result(1);
  });
  setter.join();
  CHECK(ran_on == setter_id);
}

TEST_CASE("an exception from a done callback is reported and the others "
          "still run",
          "[future][callbacks]") {
  cf::Future<int> f;
  std::vector<int> order;
  f.add_done_callback([&](const cf::Future<int>&) { order.push_back(1); });
  f.add_done_callback([](const cf::Future<int>&) {
    throw std::runtime_error("callback boom");
  });
  f.add_done_callback([](const cf::Future<int>&) { throw 42; });
  f.add_done_callback([&](const cf::Future<int>&) { order.push_back(4); });
  test::StderrCapture err;
  f.set_result(0);
  const std::string text = err.text();
  CHECK(order == std::vector<int>{1, 4});
  CHECK(text.find("exception calling callback for future: callback boom") !=
        std::string::npos);
  CHECK(text.find("not a std::exception") != std::string::npos);
  CHECK(f.result() == 0);
}

TEST_CASE("AnyFuture shares the state of the Future it came from",
          "[future][any]") {
  cf::Future<int> f;
  cf::AnyFuture a = f;
  cf::AnyFuture b = f;
  CHECK(a == b);
  CHECK(std::hash<cf::AnyFuture>{}(a) == std::hash<cf::AnyFuture>{}(b));
  CHECK_FALSE(a.done());
  CHECK_THROWS_AS(a.result(1ms), cf::TimeoutError);
  bool called = false;
  a.add_done_callback([&](const cf::AnyFuture& g) { called = g == b; });
  f.set_exception(std::make_exception_ptr(std::runtime_error("typed")));
  CHECK(called);
  CHECK(a.done());
  CHECK_THROWS_AS(a.result(), std::runtime_error);
  CHECK(a.exception() != nullptr);

  cf::Future<std::string> s;
  cf::AnyFuture as = s;
  CHECK_FALSE(as == a);
  CHECK(as.cancel());
  CHECK(s.cancelled());
  CHECK_THROWS_AS(as.result(), cf::CancelledError);
}

TEST_CASE("the error hierarchy mirrors Python's", "[errors]") {
  STATIC_REQUIRE(std::is_base_of_v<std::runtime_error, cf::Error>);
  STATIC_REQUIRE(std::is_base_of_v<cf::Error, cf::CancelledError>);
  STATIC_REQUIRE(std::is_base_of_v<cf::Error, cf::TimeoutError>);
  STATIC_REQUIRE(std::is_base_of_v<cf::Error, cf::InvalidStateError>);
  STATIC_REQUIRE(std::is_base_of_v<cf::Error, cf::BrokenExecutor>);
  STATIC_REQUIRE(std::is_base_of_v<cf::BrokenExecutor, cf::BrokenThreadPool>);
  STATIC_REQUIRE(
      std::is_base_of_v<cf::BrokenThreadPool, cf::BrokenInterpreterPool>);
  STATIC_REQUIRE(std::is_base_of_v<cf::BrokenExecutor, cf::BrokenProcessPool>);
  STATIC_REQUIRE(std::is_base_of_v<cf::Error, cf::ExecutionFailed>);
  STATIC_REQUIRE(std::is_base_of_v<cf::Error, cf::SerializationError>);
  const cf::ExecutionFailed failed("MyError", "went wrong");
  CHECK(failed.type_name() == "MyError");
  CHECK(failed.message() == "went wrong");
  CHECK(std::string(failed.what()) == "MyError: went wrong");
}

TEST_CASE("a result that crossed from a worker completes its state, or fails "
          "it with SerializationError when its bytes do not decode",
          "[future]") {
  using cf::detail::SharedState;
  const auto fails = [](const auto& state) {
    REQUIRE(state->failed());
    CHECK_THROWS_AS(std::rethrow_exception(state->outcome()),
                    cf::SerializationError);
  };
  auto number = std::make_shared<SharedState<int>>();
  number->publish_encoded(number, cf::serialize(42));
  REQUIRE(number->outcome() == nullptr);
  CHECK(number->value() == 42);
  auto truncated = std::make_shared<SharedState<int>>();
  truncated->publish_encoded(truncated, "");
  fails(truncated);
  auto too_long = std::make_shared<SharedState<int>>();
  too_long->publish_encoded(too_long, cf::serialize(42) + "x");
  fails(too_long);
  auto nothing = std::make_shared<SharedState<void>>();
  nothing->publish_encoded(nothing, "");
  CHECK(nothing->status() == cf::detail::Status::finished);
  CHECK(nothing->outcome() == nullptr);
  auto not_nothing = std::make_shared<SharedState<void>>();
  not_nothing->publish_encoded(not_nothing, "x");
  fails(not_nothing);
}
