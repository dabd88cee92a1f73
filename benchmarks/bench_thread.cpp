// In-process workloads W1-W5 (see README "Performance"): ThreadPoolExecutor
// against the baselines of baselines.hpp, all with two worker threads.

#include "baselines.hpp"
#include "common.hpp"

#include <concurrent/futures.hpp>

#include <cstdint>
#include <future>
#include <numeric>
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
  cf::ThreadPoolExecutor pool{workers};
  template <class F> auto submit(F fn) { return pool.submit(std::move(fn)); }
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
    benchmark::DoNotOptimize(sum);
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
    benchmark::DoNotOptimize(sum);
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
    benchmark::DoNotOptimize(sum);
  }
  bench::tasks_per_iteration(state, xs.size());
}

// ---------------------------------------------------------------- W1

void W1_throughput_cf(benchmark::State& state) {
  CfPool pool;
  throughput(state, pool);
}
void W1_throughput_mutex_queue(benchmark::State& state) {
  bench::MutexQueuePool pool(workers);
  throughput(state, pool);
}
void W1_throughput_std_async(benchmark::State& state) {
  bench::AsyncLauncher launcher;
  throughput(state, launcher, 1000);
}
BENCHMARK(W1_throughput_cf)->UseRealTime()->Unit(benchmark::kMillisecond);
BENCHMARK(W1_throughput_mutex_queue)
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);
BENCHMARK(W1_throughput_std_async)
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);

// ---------------------------------------------------------------- W2

void W2_latency_cf(benchmark::State& state) {
  CfPool pool;
  latency(state, pool);
}
void W2_latency_mutex_queue(benchmark::State& state) {
  bench::MutexQueuePool pool(workers);
  latency(state, pool);
}
void W2_latency_std_async(benchmark::State& state) {
  bench::AsyncLauncher launcher;
  latency(state, launcher);
}
BENCHMARK(W2_latency_cf)->UseRealTime()->Unit(benchmark::kMillisecond);
BENCHMARK(W2_latency_mutex_queue)->UseRealTime()->Unit(benchmark::kMillisecond);
BENCHMARK(W2_latency_std_async)->UseRealTime()->Unit(benchmark::kMillisecond);

// ---------------------------------------------------------------- W3

void W3_map_thread_cf(benchmark::State& state) {
  cf::ThreadPoolExecutor pool(workers);
  const std::vector<int> xs = map_inputs();
  for (auto _ : state) {
    std::int64_t sum = 0;
    for (int r : pool.map(bench::square, xs)) {
      sum += r;
    }
    benchmark::DoNotOptimize(sum);
  }
  bench::tasks_per_iteration(state, xs.size());
}
void W3_map_thread_mutex_queue(benchmark::State& state) {
  bench::MutexQueuePool pool(workers);
  map_by_futures(state, pool);
}
BENCHMARK(W3_map_thread_cf)->UseRealTime()->Unit(benchmark::kMillisecond);
BENCHMARK(W3_map_thread_mutex_queue)
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);

// ---------------------------------------------------------------- W4

void W4_as_completed_cf(benchmark::State& state) {
  cf::ThreadPoolExecutor pool(workers);
  const std::size_t n = bench::size(10'000);
  std::vector<cf::Future<int>> futures;
  futures.reserve(n);
  for (auto _ : state) {
    for (std::size_t i = 0; i < n; ++i) {
      futures.push_back(pool.submit(bench::noop));
    }
    std::int64_t sum = 0;
    for (const auto& f : cf::as_completed(futures)) {
      sum += f.result();
    }
    futures.clear();
    benchmark::DoNotOptimize(sum);
  }
  bench::tasks_per_iteration(state, n);
}
// Without as_completed, a std::future user reads the futures in order.
void W4_as_completed_mutex_queue(benchmark::State& state) {
  bench::MutexQueuePool pool(workers);
  const std::size_t n = bench::size(10'000);
  std::vector<std::future<int>> futures;
  futures.reserve(n);
  for (auto _ : state) {
    for (std::size_t i = 0; i < n; ++i) {
      futures.push_back(pool.submit(bench::noop));
    }
    std::int64_t sum = 0;
    for (auto& f : futures) {
      sum += f.get();
    }
    futures.clear();
    benchmark::DoNotOptimize(sum);
  }
  bench::tasks_per_iteration(state, n);
}
BENCHMARK(W4_as_completed_cf)->UseRealTime()->Unit(benchmark::kMillisecond);
BENCHMARK(W4_as_completed_mutex_queue)
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);

// wait(FIRST_COMPLETED) over 1,000 futures, of which the one just submitted
// is the first to finish: registering on all of them, one wake-up, and
// unregistering again.
void W4_wait_first_completed_cf(benchmark::State& state) {
  cf::ThreadPoolExecutor pool(workers);
  std::vector<cf::Future<int>> futures(1000); // pending until the end
  for (auto _ : state) {
    futures.back() = pool.submit(bench::noop);
    auto [done, not_done] = cf::wait(futures, cf::FIRST_COMPLETED);
    benchmark::DoNotOptimize(done);
  }
  bench::tasks_per_iteration(state, 1);
}
BENCHMARK(W4_wait_first_completed_cf)
    ->UseRealTime()
    ->Unit(benchmark::kMicrosecond);

// ---------------------------------------------------------------- W5

void W5_is_prime_serial(benchmark::State& state) {
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
void W5_is_prime_thread_cf(benchmark::State& state) {
  const auto numbers = bench::primes();
  cf::ThreadPoolExecutor pool(workers);
  for (auto _ : state) {
    int count = 0;
    for (bool prime : pool.map(bench::is_prime, numbers)) {
      count += prime ? 1 : 0;
    }
    benchmark::DoNotOptimize(count);
  }
  bench::tasks_per_iteration(state, numbers.size());
}
BENCHMARK(W5_is_prime_serial)->UseRealTime()->Unit(benchmark::kMillisecond);
BENCHMARK(W5_is_prime_thread_cf)->UseRealTime()->Unit(benchmark::kMillisecond);

} // namespace

// ------------------------------------------------------- optional peers

#if defined(CF_BENCH_HAVE_ASIO)
namespace {
void W1_throughput_asio(benchmark::State& state) {
  bench::AsioPool pool(workers);
  throughput(state, pool);
}
void W2_latency_asio(benchmark::State& state) {
  bench::AsioPool pool(workers);
  latency(state, pool);
}
void W3_map_thread_asio(benchmark::State& state) {
  bench::AsioPool pool(workers);
  map_by_futures(state, pool);
}
BENCHMARK(W1_throughput_asio)->UseRealTime()->Unit(benchmark::kMillisecond);
BENCHMARK(W2_latency_asio)->UseRealTime()->Unit(benchmark::kMillisecond);
BENCHMARK(W3_map_thread_asio)->UseRealTime()->Unit(benchmark::kMillisecond);
} // namespace
#endif

#if defined(CF_BENCH_HAVE_TBB)
namespace {
// No futures: each task writes its result to a slot, read after wait().
void W1_throughput_tbb_no_futures(benchmark::State& state) {
  bench::TbbGroup group(workers);
  const std::size_t n = bench::size(200'000);
  std::vector<int> results(n);
  for (auto _ : state) {
    for (std::size_t i = 0; i < n; ++i) {
      group.run([&results, i] { results[i] = bench::noop(); });
    }
    group.wait();
    benchmark::DoNotOptimize(results.data());
  }
  bench::tasks_per_iteration(state, n);
}
BENCHMARK(W1_throughput_tbb_no_futures)
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);
} // namespace
#endif

BENCHMARK_MAIN();
