// InterpreterPoolExecutor: isolation of data, worker contexts, exceptions,
// and libraries loaded once per worker with dlmopen.

#include "calls.hpp"
#include "catch.hpp"
#include "matchers.hpp"
#include "process_sync.hpp"
#include "sync.hpp"

#include <concurrent/futures/interpreter.hpp>
#include <concurrent/futures/wait.hpp>

#include <cstdint>
#include <map>
#include <set>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include <dlfcn.h>

namespace cf = concurrent::futures;
using namespace std::chrono_literals;

namespace {

using test::add;
using test::CustomError;

int bump() { return ++cf::this_worker().get<int>(); }
std::uintptr_t context_id() {
  return reinterpret_cast<std::uintptr_t>(&cf::this_worker());
}
std::pair<std::uint64_t, int> context_and_bump(int /*unused*/) {
  const int value = bump();
  return {context_id(), value};
}
std::pair<std::uint64_t, int> context_and_bump_at(std::string started,
                                                  std::string gate) {
  const int value = bump();
  test::signal_at(started);
  test::wait_at(gate);
  return {context_id(), value};
}
void remember(std::string text) {
  cf::this_worker().emplace<std::string>(std::move(text));
}
std::string remembered() { return cf::this_worker().get<std::string>(); }
void fail_to_start() { throw std::runtime_error("no connection"); }
int throw_custom() { throw CustomError("mine"); }
int throw_out_of_range() { throw std::out_of_range("index"); }
std::vector<int> append_one(std::vector<int> v) {
  v.push_back(1);
  return v;
}

const std::string library = CF_COUNTER_LIBRARY; // built by the tests

std::pair<std::uint64_t, int> counter_add_at(std::string started,
                                             std::string gate) {
  auto add_to_counter = cf::this_worker().symbol<int(int)>("counter_add");
  const int value = add_to_counter(1);
  test::signal_at(started);
  test::wait_at(gate);
  return {context_id(), value};
}

} // namespace

TEST_CASE("an interpreter pool is a thread pool", "[interpreter_pool]") {
  STATIC_REQUIRE(
      std::is_base_of_v<cf::ThreadPoolExecutor, cf::InterpreterPoolExecutor>);
  STATIC_REQUIRE(
      std::is_base_of_v<cf::BrokenThreadPool, cf::BrokenInterpreterPool>);
  cf::InterpreterPoolExecutor pool;
  CHECK(pool.max_workers() == cf::ThreadPoolExecutor::default_max_workers());
  CHECK_THROWS_AS(cf::InterpreterPoolExecutor(0), std::invalid_argument);
}

TEST_CASE("arguments and results are copies, and calls that cannot be copied "
          "fail at submit",
          "[interpreter_pool]") {
  cf::InterpreterPoolExecutor pool(2);
  const std::vector<int> mine{1, 2};
  CHECK(pool.submit(append_one, mine).result(test::hang_guard) ==
        std::vector<int>{1, 2, 1});
  CHECK(mine == std::vector<int>{1, 2});
  cf::Executor& ex = pool;
  int local = 0;
  CHECK_THROWS_AS(ex.submit([&local] { return local; }),
                  cf::SerializationError);
}

TEST_CASE("map() on an interpreter pool runs every call in a worker's "
          "context, each worker's in input order",
          "[interpreter_pool]") {
  cf::InterpreterPoolExecutor pool(2);
  const std::vector<int> xs(500, 0);      // several of map()'s batches
  std::map<std::uint64_t, int> last_bump; // per worker context
  int count = 0;
  for (auto [context, value] : pool.map(context_and_bump, xs)) {
    CHECK(value == ++last_bump[context]);
    ++count;
  }
  CHECK(count == 500);
  CHECK(last_bump.size() <= 2);
}

TEST_CASE("map() whose call cannot be copied into a context in a later "
          "batch throws SerializationError and leaves the pool usable",
          "[interpreter_pool]") {
  cf::InterpreterPoolExecutor pool(2);
  // A null function pointer cannot cross; it is the 200th of the inputs, in
  // the second of map()'s batches of 128, after calls isolated before it.
  std::vector<int (*)()> fns(300, &bump);
  fns[199] = nullptr;
  CHECK_THROWS_AS(pool.map([](int (*fn)()) { return fn(); }, fns),
                  cf::SerializationError);
  CHECK(pool.submit(add, 2, 3).result(test::hang_guard) == 5);
}

TEST_CASE("a worker's context persists across its tasks",
          "[interpreter_pool]") {
  cf::InterpreterPoolExecutor pool(1);
  CHECK(pool.submit(bump).result(test::hang_guard) == 1);
  CHECK(pool.submit(bump).result(test::hang_guard) == 2);
  CHECK(pool.submit(bump).result(test::hang_guard) == 3);
  CHECK_THROWS_AS(cf::this_worker(), std::logic_error); // not in a worker
}

TEST_CASE("no worker sees another worker's context", "[interpreter_pool]") {
  cf::InterpreterPoolExecutor pool(2);
  test::ProcessGate gate;
  test::ProcessSignal a_started;
  test::ProcessSignal b_started;
  // Both wait at the gate, so they run on two workers at once.
  auto a = pool.submit(context_and_bump_at, a_started.path(), gate.path());
  a_started.wait();
  auto b = pool.submit(context_and_bump_at, b_started.path(), gate.path());
  b_started.wait();
  gate.open_gate();
  const auto [context_a, value_a] = a.result(test::hang_guard);
  const auto [context_b, value_b] = b.result(test::hang_guard);
  CHECK(context_a != context_b);
  CHECK(value_a == 1);
  CHECK(value_b == 1);
}

TEST_CASE("the initializer runs inside each worker's context",
          "[interpreter_pool]") {
  cf::InterpreterPoolExecutor pool(
      {.max_workers = 2,
       .initializer = cf::call(remember, std::string("configured"))});
  CHECK(pool.submit(remembered).result(test::hang_guard) == "configured");
}

TEST_CASE("a throwing initializer breaks the pool with BrokenInterpreterPool",
          "[interpreter_pool]") {
  test::StderrCapture quiet;
  cf::InterpreterPoolExecutor pool(
      {.max_workers = 1, .initializer = cf::call(fail_to_start)});
  auto f = pool.submit(add, 1, 2);
  CHECK_THROWS_MATCHES(f.result(test::hang_guard), cf::BrokenInterpreterPool,
                       test::what_contains("no connection"));
  CHECK_THROWS_AS(pool.submit(add, 1, 2), cf::BrokenThreadPool);
}

TEST_CASE("a known exception comes back as its type with ExecutionFailed "
          "nested, others as ExecutionFailed",
          "[interpreter_pool]") {
  cf::InterpreterPoolExecutor pool(1);
  try {
    pool.submit(throw_out_of_range).result(test::hang_guard);
    FAIL("no exception");
  } catch (const std::out_of_range& e) {
    CHECK(std::string(e.what()) == "index");
    try {
      std::rethrow_if_nested(e);
      FAIL("no cause");
    } catch (const cf::ExecutionFailed& cause) {
      CHECK(cause.type_name() == "std::out_of_range");
      CHECK(cause.message() == "index");
    }
  }
  try {
    pool.submit(throw_custom).result(test::hang_guard);
    FAIL("no exception");
  } catch (const cf::ExecutionFailed& e) {
    CHECK(e.type_name().find("CustomError") != std::string::npos);
    CHECK(e.message() == "mine");
  }
}

TEST_CASE("each worker has its own copy of an isolated library's globals",
          "[interpreter_pool][dlmopen]") {
  cf::InterpreterPoolExecutor pool(
      {.max_workers = 3, .isolated_library = library});
  // Three calls wait at the gate at once: three workers, three counters.
  test::ProcessGate gate;
  std::vector<cf::Future<std::pair<std::uint64_t, int>>> first;
  for (int i = 0; i < 3; ++i) {
    test::ProcessSignal started;
    first.push_back(pool.submit(counter_add_at, started.path(), gate.path()));
    started.wait();
  }
  gate.open_gate();
  std::set<std::uint64_t> contexts;
  for (auto& f : first) {
    const auto [context, value] = f.result(test::hang_guard);
    contexts.insert(context);
    CHECK(value == 1); // each worker's counter started at 0
  }
  CHECK(contexts.size() == 3);
  // Many more calls: each worker counts only its own.
  std::vector<cf::Future<int>> more;
  for (int i = 0; i < 60; ++i) {
    more.push_back(
        pool.submit(cf::library_function<int(int)>("counter_add"), 1));
  }
  int highest = 0;
  for (auto& f : more) {
    highest = std::max(highest, f.result(test::hang_guard));
  }
  CHECK(highest >= 21); // some worker ran at least a third of them
  CHECK(highest <= 61); // and no worker saw another's increments
  std::vector<cf::Future<int>> totals;
  for (int i = 0; i < 3; ++i) {
    totals.push_back(pool.submit(cf::library_function<int()>("counter_get")));
  }
  // The program's own copy of the library is untouched.
  void* own = ::dlopen(library.c_str(), RTLD_NOW | RTLD_LOCAL);
  REQUIRE(own != nullptr);
  auto get = reinterpret_cast<int (*)()>(::dlsym(own, "counter_get"));
  CHECK(get() == 0);
  ::dlclose(own);
  CHECK(cf::wait(totals, test::hang_guard).not_done.empty());
}

TEST_CASE("an isolated library is refused past glibc's namespaces, and a "
          "missing one breaks the pool",
          "[interpreter_pool][dlmopen]") {
  CHECK_THROWS_AS(cf::InterpreterPoolExecutor(
                      {.max_workers = cf::max_isolated_library_workers + 1,
                       .isolated_library = library}),
                  std::invalid_argument);
  test::StderrCapture quiet;
  cf::InterpreterPoolExecutor pool(
      {.max_workers = 1, .isolated_library = "/no/such/library.so"});
  CHECK_THROWS_MATCHES(pool.submit(add, 1, 1).result(test::hang_guard),
                       cf::BrokenInterpreterPool,
                       test::what_contains("/no/such/library.so"));
  cf::InterpreterPoolExecutor without(1);
  CHECK_THROWS_AS(
      without.submit(cf::library_function<int()>("counter_get")).result(),
      std::logic_error);
}
