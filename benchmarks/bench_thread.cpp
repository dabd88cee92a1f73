// In-process workloads W1-W5 (see README "Performance"): ThreadPoolExecutor
// against the baselines of baselines.hpp, all with two worker threads. Each
// benchmark is named <workload>_<pool>, the names report.py pairs up.

#include "baselines.hpp"
#include "common.hpp"

#include <concurrent/futures.hpp>

#include <cstdint>
#include <future>
#include <numeric>
#include <string>
#include <type_traits>
#include <vector>

namespace cf = concurrent::futures;

namespace {

constexpr int workers = 2;

// One spelling for "wait for this future's value" across the libraries.
template <class T> decltype(auto) get(const cf::Future<T>& f) {
  return f.result();
}
template <class T> T get(std::future<T>& f) { return f.get(); }

struct CfPool {
  explicit CfPool(int threads) : pool(threads) {}
  template <class F> auto submit(F fn) { return pool.submit(std::move(fn)); }
  cf::ThreadPoolExecutor pool;
};

// W1: submit `n` no-op tasks returning an int, then wait for all of them.
// `window` bounds how many are outstanding (std::async cannot have 200,000
// threads at once).
template <class Pool>
void throughput(benchmark::State& state, Pool& pool,
                std::size_t window = SIZE_MAX) {
  const std::size_t n = bench::size(200'000);
  using Future = decltype(pool.submit(bench::noop));
  std::vector<Future> futures;
  futures.reserve(std::min(n, window));
  for (auto _ : state) {
    std::int64_t sum = 0;
    for (std::size_t done = 0; done < n;) {
      const std::size_t batch = std::min(n - done, window);
      for (std::size_t i = 0; i < batch; ++i) {
        futures.push_back(pool.submit(bench::noop));
      }
      for (auto& f : futures) {
        sum += get(f);
      }
      futures.clear();
      done += batch;
    }
    bench::keep(sum);
  }
  bench::tasks_per_iteration(state, n);
}

// W2: submit one task and block on its result, `n` times.
template <class Pool> void latency(benchmark::State& state, Pool& pool) {
  const std::size_t n = bench::size(20'000);
  for (auto _ : state) {
    std::int64_t sum = 0;
    for (std::size_t i = 0; i < n; ++i) {
      auto f = pool.submit(bench::noop);
      sum += get(f);
    }
    bench::keep(sum);
  }
  bench::tasks_per_iteration(state, n);
}

std::vector<int> map_inputs() {
  std::vector<int> xs(bench::size(1'000'000));
  std::iota(xs.begin(), xs.end(), 0);
  return xs;
}

// W3 for a pool without map: one future per item, read in order.
template <class Pool> void map_by_futures(benchmark::State& state, Pool& pool) {
  const std::vector<int> xs = map_inputs();
  using Future = decltype(pool.submit([] { return 0; }));
  std::vector<Future> futures;
  futures.reserve(xs.size());
  for (auto _ : state) {
    for (int x : xs) {
      futures.push_back(pool.submit([x] { return bench::square(x); }));
    }
    std::int64_t sum = 0;
    for (auto& f : futures) {
      sum += get(f);
    }
    futures.clear();
    bench::keep(sum);
  }
  bench::tasks_per_iteration(state, xs.size());
}

// W3 through ThreadPoolExecutor::map.
void map_by_pool(benchmark::State& state, CfPool& cf_pool) {
  const std::vector<int> xs = map_inputs();
  for (auto _ : state) {
    std::int64_t sum = 0;
    for (int r : cf_pool.pool.map(bench::square, xs)) {
      sum += r;
    }
    bench::keep(sum);
  }
  bench::tasks_per_iteration(state, xs.size());
}

// W4: as_completed over `n` tasks; without it, a std::future user reads the
// futures in order.
template <class Pool> void completions(benchmark::State& state, Pool& pool) {
  const std::size_t n = bench::size(10'000);
  using Future = decltype(pool.submit(bench::noop));
  std::vector<Future> futures;
  futures.reserve(n);
  for (auto _ : state) {
    for (std::size_t i = 0; i < n; ++i) {
      futures.push_back(pool.submit(bench::noop));
    }
    std::int64_t sum = 0;
    if constexpr (std::is_same_v<Future, cf::Future<int>>) {
      for (const auto& f : cf::as_completed(futures)) {
        sum += f.result();
      }
    } else {
      for (auto& f : futures) {
        sum += get(f);
      }
    }
    futures.clear();
    bench::keep(sum);
  }
  bench::tasks_per_iteration(state, n);
}

// W4: wait(FIRST_COMPLETED) over 1,000 futures, of which the one just
// submitted is the first to finish: registering on all of them, one
// wake-up, and unregistering again.
void first_completed(benchmark::State& state, CfPool& pool) {
  std::vector<cf::Future<int>> futures(1000); // pending until the end
  for (auto _ : state) {
    futures.back() = pool.submit(bench::noop);
    auto [done, not_done] = cf::wait(futures, cf::FIRST_COMPLETED);
    benchmark::DoNotOptimize(done);
  }
  bench::tasks_per_iteration(state, 1);
}

void count_primes_serially(benchmark::State& state) {
  const auto numbers = bench::primes();
  for (auto _ : state) {
    int count = 0;
    for (auto n : numbers) {
      count += bench::is_prime(n) ? 1 : 0;
    }
    benchmark::DoNotOptimize(count);
  }
  bench::tasks_per_iteration(state, numbers.size());
}

// Registers `run(state, pool)` on a fresh `Pool(workers)` as
// <workload>_<pool>.
template <class Pool, class Run>
void add(const std::string& workload, const std::string& pool, Run run) {
  benchmark::RegisterBenchmark((workload + "_" + pool).c_str(),
                               [run](benchmark::State& state) {
                                 Pool p(workers);
                                 run(state, p);
                               })
      ->UseRealTime()
      ->Unit(benchmark::kMillisecond);
}

// W1-W4 for a pool that gives a std::future per submit.
template <class Pool> void add_baseline(const std::string& name) {
  add<Pool>("W1_throughput", name,
            [](benchmark::State& s, Pool& p) { throughput(s, p); });
  add<Pool>("W2_latency", name,
            [](benchmark::State& s, Pool& p) { latency(s, p); });
  add<Pool>("W3_map_thread", name,
            [](benchmark::State& s, Pool& p) { map_by_futures(s, p); });
  add<Pool>("W4_as_completed", name,
            [](benchmark::State& s, Pool& p) { completions(s, p); });
}

void register_benchmarks() {
  add<CfPool>("W1_throughput", "cf",
              [](benchmark::State& s, CfPool& p) { throughput(s, p); });
  add<CfPool>("W2_latency", "cf",
              [](benchmark::State& s, CfPool& p) { latency(s, p); });
  add<CfPool>("W3_map_thread", "cf", map_by_pool);
  add<CfPool>("W4_as_completed", "cf",
              [](benchmark::State& s, CfPool& p) { completions(s, p); });
  add<CfPool>("W4_wait_first_completed", "cf", first_completed);
  add<CfPool>("W5_is_prime_thread", "cf", [](benchmark::State& s, CfPool& p) {
    bench::count_primes(s, p.pool, bench::primes());
  });
  benchmark::RegisterBenchmark("W5_is_prime_serial", count_primes_serially)
      ->UseRealTime()
      ->Unit(benchmark::kMillisecond);

  add_baseline<bench::MutexQueuePool>("mutex_queue");
#if defined(CF_BENCH_HAVE_ASIO)
  add_baseline<bench::AsioPool>("asio");
#endif
  // A thread per call: W1 in windows of 1,000 calls (200,000 threads at once
  // would not start), and no W3 (a million threads).
  add<bench::AsyncLauncher>("W1_throughput", "std_async",
                            [](benchmark::State& s, bench::AsyncLauncher& p) {
                              throughput(s, p, 1000);
                            });
  add<bench::AsyncLauncher>(
      "W2_latency", "std_async",
      [](benchmark::State& s, bench::AsyncLauncher& p) { latency(s, p); });
#if defined(CF_BENCH_HAVE_TBB)
  // No futures: each task writes its result to a slot, read after wait().
  add<bench::TbbGroup>("W1_throughput", "tbb_no_futures",
                       [](benchmark::State& state, bench::TbbGroup& group) {
                         const std::size_t n = bench::size(200'000);
                         std::vector<int> results(n);
                         for (auto _ : state) {
                           for (std::size_t i = 0; i < n; ++i) {
                             group.run(
                                 [&results, i] { results[i] = bench::noop(); });
                           }
                           group.wait();
                           benchmark::DoNotOptimize(results.data());
                         }
                         bench::tasks_per_iteration(state, n);
                       });
#endif
}

} // namespace

int main(int argc, char** argv) {
  register_benchmarks();
  return bench::run_benchmarks(argc, argv);
}
