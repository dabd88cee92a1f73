// InterpreterPoolExecutor: workers that share nothing with the caller.
//
// 1. A per-worker cache kept in the worker's context (the analogue of an
//    interpreter's globals): each worker fills its own, no locks needed.
// 2. A non-reentrant C library (legacy_tally.c, global state, no locking)
//    run in parallel inside one process: each worker loads its own copy
//    with dlmopen, so the workers never touch each other's globals.

#include <concurrent/futures.hpp>

#include <cstdint>
#include <cstdio>
#include <map>
#include <string>
#include <utility>
#include <vector>

namespace cf = concurrent::futures;

// Part 1: a memo per worker.
long long fibonacci(int n) {
  auto& memo = cf::this_worker().get<std::map<int, long long>>();
  if (n < 2) {
    return n;
  }
  if (auto it = memo.find(n); it != memo.end()) {
    return it->second;
  }
  const long long value = fibonacci(n - 1) + fibonacci(n - 2);
  memo[n] = value;
  return value;
}

// Part 2: call the worker's own copy of the library; report which worker.
std::pair<std::uint64_t, long> add_to_tally(long amount) {
  auto tally_add = cf::this_worker().symbol<long(long)>("tally_add");
  const long total = tally_add(amount);
  return {reinterpret_cast<std::uintptr_t>(&cf::this_worker()), total};
}

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: %s path/to/liblegacy_tally.so\n", argv[0]);
    return 2;
  }
  {
    cf::InterpreterPoolExecutor pool(4);
    std::vector<int> ns{10, 20, 30, 40, 50, 60, 70, 80, 90};
    for (long long f : pool.map(fibonacci, ns)) {
      std::printf("%lld ", f);
    }
    std::printf("\n");
  }
  {
    cf::InterpreterPoolExecutor pool(
        {.max_workers = 4, .isolated_library = argv[1]});
    std::vector<long> amounts;
    for (long i = 1; i <= 1000; ++i) {
      amounts.push_back(i);
    }
    // Each worker's tally only ever grows by what that worker was given, so
    // the workers' final tallies add up to the sum of all amounts.
    std::map<std::uint64_t, long> final_tally;
    for (const auto& [worker, total] : pool.map(add_to_tally, amounts)) {
      final_tally[worker] = std::max(final_tally[worker], total);
    }
    long sum = 0;
    for (const auto& [worker, total] : final_tally) {
      sum += total;
    }
    std::printf("1000 calls into a non-reentrant library from up to 4 "
                "workers: the tallies add up to %ld (expected 500500)\n",
                sum);
  }
}
