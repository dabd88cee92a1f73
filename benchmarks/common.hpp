#pragma once
// Shared by the benchmark programs: workload sizes, and how each benchmark
// reports its time per task so that report.py can put them side by side.

#include <benchmark/benchmark.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <iterator>
#include <vector>

namespace bench {

/// The size the issue names, or a hundredth of it when CF_BENCH_QUICK is
/// set (the `bench-smoke` tests only check that every benchmark runs).
inline std::size_t size(std::size_t full) {
  static const bool quick = std::getenv("CF_BENCH_QUICK") != nullptr;
  return quick ? (full / 100 > 0 ? full / 100 : 1) : full;
}

/// Keeps a result from being optimised away without pinning it to memory
/// while it is computed: for a non-const value GCC's DoNotOptimize prefers a
/// memory operand, which made a loop summing a million results store and
/// reload the sum at every step.
template <class T> void keep(const T& value) {
  benchmark::DoNotOptimize(value);
}

/// Records how many tasks one iteration ran: report.py divides the
/// iteration's real time by it.
inline void tasks_per_iteration(benchmark::State& state, std::size_t tasks) {
  state.counters["tasks"] = static_cast<double>(tasks);
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()) *
                          static_cast<std::int64_t>(tasks));
}

/// The reference's `is_prime`, for the CPU-bound workload.
inline bool is_prime(std::int64_t n) {
  if (n < 2) {
    return false;
  }
  if (n == 2) {
    return true;
  }
  if (n % 2 == 0) {
    return false;
  }
  for (std::int64_t i = 3; i * i <= n; i += 2) {
    if (n % i == 0) {
      return false;
    }
  }
  return true;
}

/// The reference's PRIMES, four times over: as given, five of its six
/// numbers cost the same, and two workers cannot split five evenly (the best
/// speed-up would be 1.77).
inline std::vector<std::int64_t> primes() {
  const std::int64_t once[] = {112272535095293, 112582705942171,
                               112272535095293, 115280095190773,
                               115797848077099, 1099726899285419};
  std::vector<std::int64_t> all;
  for (int i = 0; i < 4; ++i) {
    all.insert(all.end(), std::begin(once), std::end(once));
  }
  return all;
}

/// W5 through a pool's map: how many of `numbers` are prime.
template <class Pool>
void count_primes(benchmark::State& state, Pool& pool,
                  const std::vector<std::int64_t>& numbers) {
  for (auto _ : state) {
    int count = 0;
    for (bool prime : pool.map(is_prime, numbers)) {
      count += prime ? 1 : 0;
    }
    benchmark::DoNotOptimize(count);
  }
  tasks_per_iteration(state, numbers.size());
}

inline int square(int x) { return x * x; }
inline int noop() { return 0; }

/// main() of a benchmark program, after its own setup.
inline int run_benchmarks(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) {
    return 1;
  }
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}

} // namespace bench
