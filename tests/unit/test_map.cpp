// map(): results in input order, timeouts, lazy input with buffersize.

#include "catch.hpp"
#include "counting.hpp"
#include "sync.hpp"

#include <concurrent/futures/map.hpp>
#include <concurrent/futures/thread.hpp>

#include <atomic>
#include <cstddef>
#include <functional>
#include <iterator>
#include <list>
#include <memory>
#include <ranges>
#include <stdexcept>
#include <string>
#include <variant>
#include <vector>

namespace cf = concurrent::futures;
using namespace std::chrono_literals;

namespace {

int square(int x) { return x * x; }

} // namespace

TEST_CASE("map()'s results are a movable input range", "[map]") {
  using Results = cf::MapResults<int>;
  STATIC_REQUIRE(std::ranges::input_range<Results>);
  STATIC_REQUIRE(std::is_same_v<std::ranges::range_value_t<Results>, int>);
  cf::ThreadPoolExecutor pool(2);
  std::vector<int> xs{1, 2, 3};
  auto results = pool.map(square, xs);
  auto moved = std::move(results);
  CHECK(results.begin() == results.end()); // NOLINT: the moved-from is empty
  int sum = 0;
  for (int y : moved) {
    sum += y;
  }
  CHECK(sum == 14);
}

TEST_CASE("map() returns results in input order", "[map]") {
  cf::ThreadPoolExecutor pool(4);
  std::vector<int> xs(100);
  for (int i = 0; i < 100; ++i) {
    xs[static_cast<std::size_t>(i)] = i;
  }
  std::vector<int> ys;
  for (int y : pool.map(square, xs)) {
    ys.push_back(y);
  }
  REQUIRE(ys.size() == 100);
  for (int i = 0; i < 100; ++i) {
    CHECK(ys[static_cast<std::size_t>(i)] == i * i);
  }
}

TEST_CASE("map() over many batches of calls runs each once, in input order",
          "[map]") {
  // map() hands its calls to the pool in batches: many more items than one
  // batch, on one worker, must still start in input order.
  cf::ThreadPoolExecutor pool(1);
  std::vector<int> started; // written by the one worker only
  std::vector<int> xs(1000);
  for (int i = 0; i < 1000; ++i) {
    xs[static_cast<std::size_t>(i)] = i;
  }
  long long sum = 0;
  for (int y : pool.map(
           [&](int x) {
             started.push_back(x);
             return x;
           },
           xs)) {
    sum += y;
  }
  CHECK(sum == 999LL * 1000 / 2);
  CHECK(started == xs); // read after every result: the calls are done
}

TEST_CASE("map() whose input throws midway rethrows it and runs no later "
          "call, nor one already submitted that had not started",
          "[map]") {
  cf::ThreadPoolExecutor pool(1);
  test::Event release;
  std::atomic<int> calls = 0;
  auto call = [&](int x) {
    ++calls;
    if (x == 0) {
      release.wait(); // keeps the worker busy while map() fails
    }
    return x;
  };
  // Past the first batch, so that some calls are already with the pool.
  test::Counting input;
  input.fail_at = 300;
  CHECK_THROWS_AS(pool.map(call, input), std::length_error);
  release.set();
  pool.shutdown(true);
  CHECK(calls <= 1); // at most the first one, if it had started
}

TEST_CASE("a submit nested in copying map()'s arguments goes to the pool at "
          "once, so waiting for it does not deadlock",
          "[map]") {
  cf::ThreadPoolExecutor pool(1);
  // Copying one of these submits a call to the same pool and waits for it,
  // while map() is gathering its own calls.
  struct WaitsWhenCopied {
    cf::ThreadPoolExecutor* pool;
    int value;
    WaitsWhenCopied(cf::ThreadPoolExecutor* p, int v) : pool(p), value(v) {}
    WaitsWhenCopied(const WaitsWhenCopied& other)
        : pool(other.pool), value(pool->submit([v = other.value] { return v; })
                                      .result(test::hang_guard)) {}
    WaitsWhenCopied& operator=(const WaitsWhenCopied&) = delete;
  };
  std::vector<WaitsWhenCopied> xs;
  for (int i = 0; i < 300; ++i) {
    xs.emplace_back(&pool, i);
  }
  int expected = 0;
  for (int y : pool.map([](const WaitsWhenCopied& x) { return x.value; }, xs)) {
    CHECK(y == expected++);
  }
  CHECK(expected == 300);
}

TEST_CASE("map() keeps input order when later calls finish first", "[map]") {
  cf::ThreadPoolExecutor pool(2);
  test::Event release;
  std::vector<int> xs{0, 1};
  auto results = pool.map(
      [&](int x) {
        if (x == 0) {
          release.wait(); // the first call finishes last
        }
        return x;
      },
      xs);
  auto it = results.begin();
  std::jthread releaser([&] {
    pool.submit([] {}).result(); // the second call has been taken
    release.set();
  });
  CHECK(*it == 0);
  ++it;
  CHECK(*it == 1);
}

TEST_CASE("map() takes several ranges and stops at the shortest", "[map]") {
  cf::ThreadPoolExecutor pool(2);
  std::vector<int> xs{1, 2, 3, 4};
  std::list<int> ys{10, 20, 30};
  std::vector<int> out;
  for (int z : cf::map(pool, std::plus<>{}, xs, ys)) {
    out.push_back(z);
  }
  CHECK(out == std::vector<int>{11, 22, 33});
}

TEST_CASE("map() through Executor& and with a temporary range", "[map]") {
  cf::ThreadPoolExecutor pool(2);
  cf::Executor& ex = pool;
  std::vector<std::string> out;
  for (auto& s : ex.map(
           [](int n) { return std::string(static_cast<std::size_t>(n), 'x'); },
           std::vector<int>{1, 2, 3})) {
    out.push_back(s);
  }
  CHECK(out == std::vector<std::string>{"x", "xx", "xxx"});
}

TEST_CASE("map() raises a call's exception when its result is read, and "
          "iteration goes on",
          "[map]") {
  cf::ThreadPoolExecutor pool(2);
  std::vector<int> xs{1, 0, 2};
  auto results = pool.map(
      [](int x) {
        if (x == 0) {
          throw std::domain_error("zero");
        }
        return 10 / x;
      },
      xs);
  auto it = results.begin();
  CHECK(*it == 10);
  ++it;
  CHECK_THROWS_AS(*it, std::domain_error);
  ++it;
  CHECK(*it == 5);
  ++it;
  CHECK(it == results.end());
}

TEST_CASE("map() throws TimeoutError once the timeout from the call passed, "
          "and cancels what has not started",
          "[map]") {
  cf::ThreadPoolExecutor pool(1);
  test::Event release;
  std::atomic<int> calls = 0;
  std::vector<int> xs{0, 1, 2};
  {
    auto results = pool.map(
        [&](int) {
          ++calls;
          release.wait();
          return 0;
        },
        xs, cf::MapOptions{.timeout = 20ms});
    auto it = results.begin();
    CHECK_THROWS_AS(*it, cf::TimeoutError);
    release.set();
  }
  pool.shutdown(true);
  CHECK(calls == 1); // the two queued calls were cancelled
}

TEST_CASE("map() with buffersize reads the input lazily", "[map]") {
  cf::ThreadPoolExecutor pool(2);
  test::Counting input;
  auto results = pool.map(square, input, cf::MapOptions{.buffersize = 3});
  CHECK(input.reads == 3);
  int i = 0;
  for (int y : results) {
    CHECK(y == i * i);
    // at most 3 submitted and not yet consumed (this one included)
    CHECK(input.reads <= i + 3);
    if (++i == 20) {
      break;
    }
  }
  CHECK(input.reads == 22);
}

TEST_CASE("map() with buffersize runs every call", "[map]") {
  cf::ThreadPoolExecutor pool(4);
  std::atomic<int> started = 0;
  test::Event release;
  std::vector<int> xs(10, 1);
  auto results = pool.map(
      [&](int x) {
        ++started;
        release.wait();
        return x;
      },
      xs, cf::MapOptions{.buffersize = 2});
  release.set();
  int sum = 0;
  for (int y : results) {
    sum += y;
  }
  CHECK(sum == 10);
  CHECK(started == 10);
}

TEST_CASE("map() rejects chunksize < 1 and buffersize < 1", "[map]") {
  cf::ThreadPoolExecutor pool(1);
  std::vector<int> xs{1};
  CHECK_THROWS_AS(pool.map(square, xs, cf::MapOptions{.chunksize = 0}),
                  std::invalid_argument);
  CHECK_THROWS_AS(pool.map(square, xs, cf::MapOptions{.buffersize = 0}),
                  std::invalid_argument);
  CHECK_THROWS_AS(cf::map(pool, square, xs, cf::MapOptions{.buffersize = -1}),
                  std::invalid_argument);
}

TEST_CASE("map() on a thread pool accepts and ignores chunksize", "[map]") {
  cf::ThreadPoolExecutor pool(2);
  std::vector<int> xs{1, 2, 3, 4, 5};
  std::vector<int> out;
  for (int y : pool.map(square, xs, cf::MapOptions{.chunksize = 2})) {
    out.push_back(y);
  }
  CHECK(out == std::vector<int>{1, 4, 9, 16, 25});
}

TEST_CASE("destroying map()'s results early cancels calls not yet started",
          "[map]") {
  cf::ThreadPoolExecutor pool(1);
  test::Event release;
  test::Event first_started;
  std::atomic<int> calls = 0;
  std::vector<int> xs{0, 1, 2, 3, 4};
  {
    auto results = pool.map(
        [&](int x) {
          ++calls;
          if (x == 0) {
            first_started.set();
            release.wait();
          }
          return x;
        },
        xs);
    REQUIRE(first_started.wait());
  }
  release.set();
  pool.shutdown(true);
  CHECK(calls == 1);
}

TEST_CASE("map() after shutdown throws std::runtime_error", "[map]") {
  cf::ThreadPoolExecutor pool(1);
  pool.shutdown();
  std::vector<int> xs{1};
  CHECK_THROWS_AS(pool.map(square, xs), std::runtime_error);
  CHECK_THROWS_AS(cf::map(pool, square, xs), std::runtime_error);
}

TEST_CASE("map() of a void function yields one empty value per call", "[map]") {
  cf::ThreadPoolExecutor pool(2);
  std::atomic<int> sum = 0;
  std::vector<int> xs{1, 2, 3};
  int count = 0;
  for ([[maybe_unused]] std::monostate unit :
       pool.map([&](int x) { sum += x; }, xs)) {
    ++count;
  }
  CHECK(count == 3);
  CHECK(sum == 6);
}

TEST_CASE("map() hands out move-only results", "[map]") {
  cf::ThreadPoolExecutor pool(2);
  std::vector<int> xs{1, 2};
  std::vector<std::unique_ptr<int>> out;
  for (auto& p : pool.map([](int x) { return std::make_unique<int>(x); }, xs)) {
    out.push_back(std::move(p));
  }
  REQUIRE(out.size() == 2);
  CHECK(*out[1] == 2);
}

TEST_CASE("an input element that fails to be read stays next: map() does not "
          "skip it",
          "[map]") {
  cf::ThreadPoolExecutor pool(2);
  test::Counting input;
  input.fail_at = 4;
  auto results = pool.map(square, input, cf::MapOptions{.buffersize = 2});
  auto it = results.begin();
  CHECK(*it == 0);
  ++it;
  CHECK(*it == 1);
  ++it;
  CHECK(*it == 4);
  CHECK_THROWS_AS(++it, std::length_error); // reading element 4 fails
  CHECK(*it == 9);
  CHECK_THROWS_AS(++it, std::length_error); // element 4 again, not 5
  CHECK(input.reads == 4);                  // 0..3, each read once
}
