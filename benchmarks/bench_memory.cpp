// Memory: resident bytes per queued no-op task, with 1,000,000 queued behind
// a single busy worker. Each measurement runs in a forked child, so that one
// pool's freed memory cannot hide the next one's.

#include "baselines.hpp"
#include "common.hpp"

#include <concurrent/futures.hpp>

#include <cstdio>
#include <future>
#include <stdexcept>
#include <sys/wait.h>
#include <unistd.h>
#include <vector>

namespace cf = concurrent::futures;

namespace {

long resident_bytes() {
  long pages_total = 0;
  long pages_resident = 0;
  std::FILE* f = std::fopen("/proc/self/statm", "r");
  if (f == nullptr ||
      std::fscanf(f, "%ld %ld", &pages_total, &pages_resident) != 2) {
    throw std::runtime_error("cannot read /proc/self/statm");
  }
  std::fclose(f);
  return pages_resident * ::sysconf(_SC_PAGESIZE);
}

// Queues `n` no-op tasks behind one blocked worker and returns the growth
// of resident memory per task: the task, the queue's share and the future
// the caller keeps.
template <class Pool> double bytes_per_queued_task(std::size_t n) {
  Pool pool(1);
  std::promise<void> gate;
  auto gate_future = gate.get_future().share();
  auto blocker = pool.submit([gate_future] {
    gate_future.wait();
    return 0;
  });
  using Future = decltype(pool.submit(bench::noop));
  std::vector<Future> futures;
  futures.reserve(n);
  const long before = resident_bytes(); // the reserve is not touched yet
  for (std::size_t i = 0; i < n; ++i) {
    futures.push_back(pool.submit(bench::noop));
  }
  const long after = resident_bytes();
  gate.set_value();
  return static_cast<double>(after - before) / static_cast<double>(n);
}

// Runs the measurement in a child process and returns what it found.
template <class Pool> double measured_in_child(std::size_t n) {
  int fds[2];
  if (::pipe(fds) != 0) {
    throw std::runtime_error("pipe");
  }
  const pid_t pid = ::fork();
  if (pid < 0) {
    throw std::runtime_error("fork");
  }
  if (pid == 0) {
    const double bytes = bytes_per_queued_task<Pool>(n);
    (void)!::write(fds[1], &bytes, sizeof bytes);
    ::_exit(0);
  }
  ::close(fds[1]);
  double bytes = -1;
  const bool got = ::read(fds[0], &bytes, sizeof bytes) == sizeof bytes;
  ::close(fds[0]);
  int status = 0;
  ::waitpid(pid, &status, 0);
  if (!got || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    throw std::runtime_error("the measuring child failed");
  }
  return bytes;
}

template <class Pool> void memory(benchmark::State& state) {
  const std::size_t n = bench::size(1'000'000);
  double bytes = 0;
  for (auto _ : state) {
    bytes = measured_in_child<Pool>(n);
  }
  state.counters["bytes_per_task"] = bytes;
  bench::tasks_per_iteration(state, n);
}

void Memory_queued_task_cf(benchmark::State& state) {
  memory<cf::ThreadPoolExecutor>(state);
}
void Memory_queued_task_mutex_queue(benchmark::State& state) {
  memory<bench::MutexQueuePool>(state);
}
BENCHMARK(Memory_queued_task_cf)->Iterations(1)->UseRealTime();
BENCHMARK(Memory_queued_task_mutex_queue)->Iterations(1)->UseRealTime();

#if defined(CF_BENCH_HAVE_ASIO)
void Memory_queued_task_asio(benchmark::State& state) {
  memory<bench::AsioPool>(state);
}
BENCHMARK(Memory_queued_task_asio)->Iterations(1)->UseRealTime();
#endif

} // namespace

BENCHMARK_MAIN();
