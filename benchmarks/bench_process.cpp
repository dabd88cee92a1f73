// Workloads that cross a process boundary (W3 chunked map, W5, W6): the
// process pool against a raw pipe ping-pong (the floor), raw fork and
// posix_spawn, and for W3 the same data moved through shared memory. Its main()
// calls worker_main so StartMethod::spawn works.

#include "common.hpp"

#include <concurrent/futures.hpp>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdint>
#include <cstring>
#include <new>
#include <numeric>
#include <sched.h>
#include <spawn.h>
#include <stdexcept>
#include <string>
#include <string_view>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>
#include <vector>

extern char** environ;

namespace cf = concurrent::futures;

namespace {

constexpr int workers = 2;
constexpr std::string_view spawn_child_flag = "--bench-spawn-child";
constexpr std::size_t big = std::size_t{32} << 20; // 32 MiB

std::string echo(std::string s) { return s; }

// ------------------------------------------------------ raw pipe floor

void check(bool ok, const char* what) {
  if (!ok) {
    throw std::runtime_error(std::string(what) + ": " + std::strerror(errno));
  }
}

void write_all(int fd, const char* data, std::size_t n) {
  while (n > 0) {
    const ssize_t w = ::write(fd, data, n);
    if (w < 0 && errno == EINTR) {
      continue;
    }
    check(w > 0, "write");
    data += w;
    n -= static_cast<std::size_t>(w);
  }
}

// Returns false on end of file before `n` bytes.
bool read_all(int fd, char* data, std::size_t n) {
  while (n > 0) {
    const ssize_t r = ::read(fd, data, n);
    if (r < 0 && errno == EINTR) {
      continue;
    }
    check(r >= 0, "read");
    if (r == 0) {
      return false;
    }
    data += r;
    n -= static_cast<std::size_t>(r);
  }
  return true;
}

/// A forked child that echoes fixed-size messages over two pipes until the
/// parent closes its end: what a process pool's round trip cannot beat.
class EchoChild {
public:
  explicit EchoChild(std::size_t message) : message_(message) {
    int down[2];
    int up[2];
    check(::pipe(down) == 0 && ::pipe(up) == 0, "pipe");
    pid_ = ::fork();
    check(pid_ >= 0, "fork");
    if (pid_ == 0) {
      ::close(down[1]);
      ::close(up[0]);
      std::vector<char> buffer(message_);
      while (read_all(down[0], buffer.data(), message_)) {
        write_all(up[1], buffer.data(), message_);
      }
      ::_exit(0);
    }
    ::close(down[0]);
    ::close(up[1]);
    to_child_ = down[1];
    from_child_ = up[0];
  }
  EchoChild(const EchoChild&) = delete;
  EchoChild& operator=(const EchoChild&) = delete;
  ~EchoChild() {
    ::close(to_child_);
    ::close(from_child_);
    ::waitpid(pid_, nullptr, 0);
  }

  void round_trip(std::vector<char>& buffer) {
    write_all(to_child_, buffer.data(), message_);
    check(read_all(from_child_, buffer.data(), message_), "echo child");
  }

private:
  std::size_t message_;
  pid_t pid_ = -1;
  int to_child_ = -1;
  int from_child_ = -1;
};

// ------------------------------------------- W3 shared-memory floor

/// W3's data movement with nothing else: two forked children square chunks
/// of 1,000 ints in a ring of slots in shared memory, and the parent fills
/// the slots from the input and sums the results, everyone polling atomics
/// (no system call, no encoding, no future). What a process pool whose
/// calls and results cross through shared memory could approach.
class SharedMemoryFloor {
public:
  static constexpr std::size_t chunk = 1000;

  SharedMemoryFloor() {
    void* at = ::mmap(nullptr, sizeof(Ring), PROT_READ | PROT_WRITE,
                      MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    check(at != MAP_FAILED, "mmap");
    ring_ = new (at) Ring{};
    for (pid_t& pid : pids_) {
      pid = ::fork();
      if (pid == 0) {
        // A polling child must not outlive a benchmark that crashed.
        ::prctl(PR_SET_PDEATHSIG, SIGKILL);
        serve();
      }
      if (pid < 0) {
        const int error = errno;
        stop(); // the children already started
        errno = error;
        check(false, "fork");
      }
    }
  }
  SharedMemoryFloor(const SharedMemoryFloor&) = delete;
  SharedMemoryFloor& operator=(const SharedMemoryFloor&) = delete;
  ~SharedMemoryFloor() { stop(); }

  std::int64_t sum_of_squares(const std::vector<int>& xs) {
    std::int64_t sum = 0;
    const std::uint64_t first = ring_->published.load();
    const std::uint64_t last = first + (xs.size() + chunk - 1) / chunk;
    std::uint64_t next = first;
    for (std::uint64_t read = first; read < last; ++read) {
      for (; next < last && next - read < slots; ++next) {
        Slot& s = ring_->slot[next % slots];
        const std::size_t from = (next - first) * chunk;
        s.size = std::min(chunk, xs.size() - from);
        std::memcpy(s.in, xs.data() + from, s.size * sizeof(int));
        ring_->published.store(next + 1, std::memory_order_release);
      }
      Slot& s = ring_->slot[read % slots];
      await([&] { return s.done.load(std::memory_order_acquire); });
      for (std::size_t i = 0; i < s.size; ++i) {
        sum += s.out[i];
      }
      s.done.store(false, std::memory_order_relaxed);
    }
    return sum;
  }

private:
  static constexpr std::size_t slots = 64;
  struct Slot {
    alignas(64) std::atomic<bool> done{false};
    std::size_t size = 0;
    alignas(64) int in[chunk];
    alignas(64) int out[chunk];
  };
  struct Ring {
    alignas(64) std::atomic<std::uint64_t> published{0};
    alignas(64) std::atomic<std::uint64_t> taken{0};
    alignas(64) std::atomic<bool> stop{false};
    Slot slot[slots];
  };

  // Polls, giving the core away now and then: three processes share two.
  template <class Ready> static void await(Ready ready) {
    for (int polls = 0; !ready(); ++polls) {
      if (polls % 64 == 63) {
        ::sched_yield();
      }
    }
  }

  void stop() {
    ring_->stop.store(true);
    for (const pid_t pid : pids_) {
      if (pid > 0) {
        ::waitpid(pid, nullptr, 0);
      }
    }
    ::munmap(ring_, sizeof(Ring));
  }

  [[noreturn]] void serve() {
    for (;;) {
      std::uint64_t t = ring_->taken.load();
      await([&] {
        t = ring_->taken.load();
        return t < ring_->published.load(std::memory_order_acquire) ||
               ring_->stop.load();
      });
      if (ring_->stop.load()) {
        ::_exit(0);
      }
      if (!ring_->taken.compare_exchange_weak(t, t + 1)) {
        continue;
      }
      Slot& s = ring_->slot[t % slots];
      for (std::size_t i = 0; i < s.size; ++i) {
        s.out[i] = bench::square(s.in[i]);
      }
      s.done.store(true, std::memory_order_release);
    }
  }

  Ring* ring_ = nullptr;
  pid_t pids_[workers]{};
};

void W3_map_process_shm_floor(benchmark::State& state) {
  SharedMemoryFloor floor;
  std::vector<int> xs(bench::size(1'000'000));
  std::iota(xs.begin(), xs.end(), 0);
  for (auto _ : state) {
    bench::keep(floor.sum_of_squares(xs));
  }
  bench::tasks_per_iteration(state, xs.size());
}

// The pool's round-trip message is a few dozen bytes; so is this one.
void W6_round_trip_raw_pipe(benchmark::State& state) {
  const std::size_t n = bench::size(20'000);
  EchoChild child(64);
  std::vector<char> buffer(64, 'x');
  for (auto _ : state) {
    for (std::size_t i = 0; i < n; ++i) {
      child.round_trip(buffer);
    }
  }
  bench::tasks_per_iteration(state, n);
}

void W6_32MiB_raw_pipe(benchmark::State& state) {
  EchoChild child(big);
  std::vector<char> buffer(big, 'x');
  for (auto _ : state) {
    child.round_trip(buffer);
  }
  bench::tasks_per_iteration(state, 1);
}

using Clock = std::chrono::steady_clock;

// Times from before `start(write_end)` (which starts a child that writes
// one byte to `write_end`) to that byte's arrival: the least a worker
// started that way can take to give its first result.
template <class Start>
void time_to_first_byte(benchmark::State& state, Start start) {
  for (auto _ : state) {
    const auto begin = Clock::now();
    int fds[2];
    check(::pipe(fds) == 0, "pipe");
    const pid_t pid = start(fds[1]);
    ::close(fds[1]);
    char byte = 0;
    read_all(fds[0], &byte, 1);
    state.SetIterationTime(
        std::chrono::duration<double>(Clock::now() - begin).count());
    ::close(fds[0]);
    ::waitpid(pid, nullptr, 0);
  }
  bench::tasks_per_iteration(state, 1);
}

void W6_start_raw_fork(benchmark::State& state) {
  time_to_first_byte(state, [](int write_end) {
    const pid_t pid = ::fork();
    check(pid >= 0, "fork");
    if (pid == 0) {
      write_all(write_end, "x", 1);
      ::_exit(0);
    }
    return pid;
  });
}

// posix_spawn of this program, which writes one byte to fd 3 and exits.
void W6_start_raw_posix_spawn(benchmark::State& state) {
  time_to_first_byte(state, [](int write_end) {
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, write_end, 3);
    std::string self = "/proc/self/exe";
    std::string flag(spawn_child_flag);
    char* argv[] = {self.data(), flag.data(), nullptr};
    pid_t pid = -1;
    const int rc =
        ::posix_spawn(&pid, self.c_str(), &actions, nullptr, argv, environ);
    posix_spawn_file_actions_destroy(&actions);
    errno = rc;
    check(rc == 0, "posix_spawn");
    return pid;
  });
}

// ------------------------------------------------------ process pool

void W6_round_trip_cf(benchmark::State& state) {
  const std::size_t n = bench::size(20'000);
  cf::ProcessPoolExecutor pool(1);
  pool.submit(bench::noop).result(); // the worker is up
  for (auto _ : state) {
    std::int64_t sum = 0;
    for (std::size_t i = 0; i < n; ++i) {
      sum += pool.submit(bench::noop).result();
    }
    bench::keep(sum);
  }
  bench::tasks_per_iteration(state, n);
}

void W6_throughput_cf(benchmark::State& state) {
  const std::size_t n = bench::size(50'000);
  cf::ProcessPoolExecutor pool(workers);
  pool.submit(bench::noop).result();
  std::vector<cf::Future<int>> futures;
  futures.reserve(n);
  for (auto _ : state) {
    for (std::size_t i = 0; i < n; ++i) {
      futures.push_back(pool.submit(bench::noop));
    }
    std::int64_t sum = 0;
    for (const auto& f : futures) {
      sum += f.result();
    }
    futures.clear();
    bench::keep(sum);
  }
  bench::tasks_per_iteration(state, n);
}

// From the pool's constructor to its first result (shutdown not counted).
void start_to_first_result(benchmark::State& state, cf::StartMethod method) {
  for (auto _ : state) {
    const auto start = Clock::now();
    auto pool = std::make_unique<cf::ProcessPoolExecutor>(
        cf::ProcessPoolOptions{.max_workers = 1, .start_method = method});
    benchmark::DoNotOptimize(pool->submit(bench::noop).result());
    state.SetIterationTime(
        std::chrono::duration<double>(Clock::now() - start).count());
    pool.reset();
  }
  bench::tasks_per_iteration(state, 1);
}
void W6_start_fork_cf(benchmark::State& state) {
  start_to_first_result(state, cf::StartMethod::fork);
}
void W6_start_forkserver_cf(benchmark::State& state) {
  start_to_first_result(state, cf::StartMethod::forkserver);
}
void W6_start_spawn_cf(benchmark::State& state) {
  start_to_first_result(state, cf::StartMethod::spawn);
}

void W6_32MiB_cf(benchmark::State& state) {
  cf::ProcessPoolExecutor pool(1);
  pool.submit(bench::noop).result();
  const std::string payload(big, 'x');
  for (auto _ : state) {
    benchmark::DoNotOptimize(pool.submit(echo, payload).result().size());
  }
  bench::tasks_per_iteration(state, 1);
}

void W3_map_process_chunked_cf(benchmark::State& state) {
  cf::ProcessPoolExecutor pool(workers);
  pool.submit(bench::noop).result();
  std::vector<int> xs(bench::size(1'000'000));
  std::iota(xs.begin(), xs.end(), 0);
  for (auto _ : state) {
    std::int64_t sum = 0;
    for (int r :
         pool.map(bench::square, xs, cf::MapOptions{.chunksize = 1000})) {
      sum += r;
    }
    bench::keep(sum);
  }
  bench::tasks_per_iteration(state, xs.size());
}

void W5_is_prime_process_cf(benchmark::State& state) {
  cf::ProcessPoolExecutor pool(workers);
  pool.submit(bench::noop).result();
  bench::count_primes(state, pool, bench::primes());
}

BENCHMARK(W6_round_trip_raw_pipe)->UseRealTime()->Unit(benchmark::kMillisecond);
BENCHMARK(W6_round_trip_cf)->UseRealTime()->Unit(benchmark::kMillisecond);
BENCHMARK(W6_throughput_cf)->UseRealTime()->Unit(benchmark::kMillisecond);
BENCHMARK(W6_start_raw_fork)->UseManualTime()->Unit(benchmark::kMillisecond);
BENCHMARK(W6_start_raw_posix_spawn)
    ->UseManualTime()
    ->Unit(benchmark::kMillisecond);
BENCHMARK(W6_start_fork_cf)->UseManualTime()->Unit(benchmark::kMillisecond);
BENCHMARK(W6_start_forkserver_cf)
    ->UseManualTime()
    ->Unit(benchmark::kMillisecond);
BENCHMARK(W6_start_spawn_cf)->UseManualTime()->Unit(benchmark::kMillisecond);
BENCHMARK(W6_32MiB_raw_pipe)->UseRealTime()->Unit(benchmark::kMillisecond);
BENCHMARK(W6_32MiB_cf)->UseRealTime()->Unit(benchmark::kMillisecond);
BENCHMARK(W3_map_process_shm_floor)
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);
BENCHMARK(W3_map_process_chunked_cf)
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);
BENCHMARK(W5_is_prime_process_cf)->UseRealTime()->Unit(benchmark::kMillisecond);

} // namespace

int main(int argc, char** argv) {
  cf::worker_main(argc, argv);
  if (argc > 1 && argv[1] == spawn_child_flag) {
    write_all(3, "x", 1);
    return 0;
  }
  return bench::run_benchmarks(argc, argv);
}
