// The executor contract: what every pool must do, run against each pool type
// at several worker counts. The calls are transferable and synchronise
// through named pipes, so that the same tests hold for pools whose workers
// are other processes.

#include "calls.hpp"
#include "catch.hpp"
#include "executors.hpp"
#include "process_sync.hpp"
#include "sync.hpp"

#include <concurrent/futures/executor.hpp>
#include <concurrent/futures/wait.hpp>

#include <atomic>
#include <stdexcept>
#include <string>
#include <vector>

namespace cf = concurrent::futures;
using namespace std::chrono_literals;

namespace {

using test::add;

std::string exclaim(std::string s) { return s + "!"; }
void nothing() {}
int throw_invalid_argument() { throw std::invalid_argument("bad"); }
void throw_runtime_error() { throw std::runtime_error("runtime"); }
int throw_timeout() { throw cf::TimeoutError("late"); }
int block_then(std::string gate, int value) {
  test::wait_at(gate);
  return value;
}
int signal_block_then(std::string started, std::string gate, int value) {
  test::signal_at(started);
  return block_then(std::move(gate), value);
}
// A counter that lives wherever the call runs: one per worker process, one
// per thread pool's process.
int next_ticket() {
  static std::atomic<int> tickets{0};
  return ++tickets;
}

} // namespace

TEMPLATE_TEST_CASE("submit() returns a future of the call's result",
                   "[executor]", CF_EXECUTOR_TYPES) {
  const int workers = GENERATE(1, 2, 4);
  auto pool = test::Make<TestType>::make(workers);
  auto f = pool.submit(add, 2, 3);
  STATIC_REQUIRE(std::is_same_v<decltype(f), cf::Future<int>>);
  CHECK(f.result(test::hang_guard) == 5);
  CHECK(pool.submit(exclaim, std::string("hi")).result(test::hang_guard) ==
        "hi!");
  CHECK(pool.submit([](int x) { return x * 2; }, 21).result(test::hang_guard) ==
        42);
  auto v = pool.submit(nothing);
  v.result(test::hang_guard);
  CHECK(v.done());
}

TEMPLATE_TEST_CASE("submit() works through Executor&", "[executor]",
                   CF_EXECUTOR_TYPES) {
  auto pool = test::Make<TestType>::make(2);
  cf::Executor& ex = pool;
  CHECK(ex.submit(add, 40, 2).result(test::hang_guard) == 42);
}

TEMPLATE_TEST_CASE("submit() copies its arguments at the call", "[executor]",
                   CF_EXECUTOR_TYPES) {
  auto pool = test::Make<TestType>::make(1);
  test::ProcessGate gate;
  std::string text = "before";
  auto blocked = pool.submit(block_then, gate.path(), 1);
  auto copied = pool.submit(exclaim, text);
  text = "after";
  gate.open_gate();
  CHECK(blocked.result(test::hang_guard) == 1);
  CHECK(copied.result(test::hang_guard) == "before!");
}

TEMPLATE_TEST_CASE("a call's exception of a standard type comes back as "
                   "that type",
                   "[executor]", CF_EXECUTOR_TYPES) {
  auto pool = test::Make<TestType>::make(2);
  auto invalid = pool.submit(throw_invalid_argument);
  CHECK_THROWS_AS(invalid.result(test::hang_guard), std::invalid_argument);
  CHECK_THROWS_WITH(invalid.result(), "bad");
  auto runtime = pool.submit(throw_runtime_error);
  CHECK_THROWS_AS(runtime.result(test::hang_guard), std::runtime_error);
  CHECK(runtime.exception() != nullptr);
  auto library = pool.submit(throw_timeout);
  CHECK_THROWS_AS(library.result(test::hang_guard), cf::TimeoutError);
}

TEMPLATE_TEST_CASE("a worker survives a call that throws", "[executor]",
                   CF_EXECUTOR_TYPES) {
  auto pool = test::Make<TestType>::make(1);
  CHECK_THROWS_AS(pool.submit(throw_invalid_argument).result(test::hang_guard),
                  std::invalid_argument);
  CHECK(pool.submit(add, 1, 2).result(test::hang_guard) == 3);
}

TEMPLATE_TEST_CASE("calls start in the order they were submitted", "[executor]",
                   CF_EXECUTOR_TYPES) {
  auto pool = test::Make<TestType>::make(1);
  std::vector<cf::Future<int>> fs;
  for (int i = 0; i < 50; ++i) {
    fs.push_back(pool.submit(next_ticket));
  }
  CHECK(cf::wait(fs, test::hang_guard).not_done.empty());
  for (std::size_t i = 1; i < fs.size(); ++i) {
    CHECK(fs[i].result() > fs[i - 1].result());
  }
}

TEMPLATE_TEST_CASE("done callbacks of a submitted call see its result",
                   "[executor]", CF_EXECUTOR_TYPES) {
  test::Event called; // outlives the pool, whose thread may still set it
  std::atomic<int> seen = 0;
  auto pool = test::Make<TestType>::make(2);
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
  test::ProcessGate gate;
  test::ProcessSignal started;
  auto running = pool.submit(signal_block_then, started.path(), gate.path(), 1);
  auto queued = pool.submit(next_ticket);
  started.wait();
  CHECK_FALSE(running.cancel());
  CHECK(running.running());
  CHECK(queued.cancel());
  CHECK(queued.done());
  gate.open_gate();
  CHECK(running.result(test::hang_guard) == 1);
  pool.shutdown(true);
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
  std::vector<cf::Future<int>> fs;
  for (int i = 0; i < 50; ++i) {
    fs.push_back(pool.submit(add, i, 1));
  }
  pool.shutdown(true);
  for (int i = 0; i < 50; ++i) {
    REQUIRE(fs[static_cast<std::size_t>(i)].done());
    CHECK(fs[static_cast<std::size_t>(i)].result() == i + 1);
  }
}

TEMPLATE_TEST_CASE("shutdown(cancel_futures=true) cancels only the calls not "
                   "yet started",
                   "[executor][shutdown]", CF_EXECUTOR_TYPES) {
  auto pool = test::Make<TestType>::make(1);
  test::ProcessGate gate;
  test::ProcessSignal started;
  auto running = pool.submit(signal_block_then, started.path(), gate.path(), 1);
  std::vector<cf::Future<int>> queued;
  for (int i = 0; i < 5; ++i) {
    queued.push_back(pool.submit(add, i, 0));
  }
  started.wait();
  pool.shutdown(false, true);
  for (auto& f : queued) {
    CHECK(f.cancelled());
  }
  CHECK_FALSE(running.cancelled());
  gate.open_gate();
  CHECK(running.result(test::hang_guard) == 1);
  pool.shutdown(true);
}

TEMPLATE_TEST_CASE("shutdown(wait=false) returns at once and the workers "
                   "still finish the work",
                   "[executor][shutdown]", CF_EXECUTOR_TYPES) {
  auto pool = test::Make<TestType>::make(2);
  test::ProcessGate gate;
  auto blocked = pool.submit(block_then, gate.path(), 5);
  auto queued = pool.submit(add, 3, 3);
  pool.shutdown(false); // must not wait for `blocked`
  CHECK_FALSE(blocked.done());
  gate.open_gate();
  CHECK(blocked.result(test::hang_guard) == 5);
  CHECK(queued.result(test::hang_guard) == 6);
}

TEMPLATE_TEST_CASE("the destructor waits for pending calls",
                   "[executor][shutdown]", CF_EXECUTOR_TYPES) {
  std::vector<cf::Future<int>> fs;
  {
    auto pool = test::Make<TestType>::make(2);
    for (int i = 0; i < 20; ++i) {
      fs.push_back(pool.submit(add, i, i));
    }
  }
  for (auto& f : fs) {
    CHECK(f.done());
  }
}

TEMPLATE_TEST_CASE("map() runs through every pool with results in order",
                   "[executor][map]", CF_EXECUTOR_TYPES) {
  auto pool = test::Make<TestType>::make(2);
  std::vector<int> xs{1, 2, 3, 4, 5, 6, 7};
  std::vector<int> ys{7, 6, 5, 4, 3, 2, 1};
  const int chunksize = GENERATE(1, 3, 100);
  std::vector<int> out;
  for (int z : pool.map(add, xs, ys, cf::MapOptions{.chunksize = chunksize})) {
    out.push_back(z);
  }
  CHECK(out == std::vector<int>(7, 8));
}
