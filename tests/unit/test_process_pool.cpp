// ProcessPoolExecutor: every start method, faults, limits, resources.

#include "calls.hpp"
#include "catch.hpp"
#include "counting.hpp"
#include "matchers.hpp"
#include "no_new_threads.hpp"
#include "process_sync.hpp"
#include "sync.hpp"

#include <concurrent/futures/process.hpp>
#include <concurrent/futures/wait.hpp>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <filesystem>
#include <fstream>
#include <list>
#include <map>
#include <numeric>
#include <random>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>
#include <type_traits>
#include <vector>

#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

namespace cf = concurrent::futures;
using namespace std::chrono_literals;

namespace {

using test::add;
using test::CustomError;

int my_pid() { return static_cast<int>(::getpid()); }
int die_by(int signal) {
  std::signal(signal, SIG_DFL); // not a sanitizer's handler: really die
  std::raise(signal);
  return 0;
}
int exit_with(int status) { ::_exit(status); }

// When the call started, on the clock all processes share.
long long started_at() {
  return std::chrono::steady_clock::now().time_since_epoch().count();
}
int wait_then_pid(std::string gate) {
  test::wait_at(gate);
  return my_pid();
}
int signal_wait_then_pid(std::string started, std::string gate) {
  test::signal_at(started);
  return wait_then_pid(std::move(gate));
}
std::vector<char> echo(std::vector<char> data) { return data; }
// Signals `started` (if given), waits at the gate, then adds a byte to the
// file `ran`: the test counts the calls that ran.
int signal_wait_then_mark(std::string started, std::string gate,
                          std::string ran) {
  if (!started.empty()) {
    test::signal_at(started);
  }
  test::wait_at(gate);
  const int fd = ::open(ran.c_str(), O_WRONLY | O_APPEND | O_CREAT, 0600);
  const bool marked = fd >= 0 && ::write(fd, "x", 1) == 1;
  ::close(fd);
  return marked ? 1 : 0;
}

int worker_global = 0;
void set_global(int v) { worker_global = v; }
int get_global() { return worker_global; }
void failing_initializer() { throw std::runtime_error("no database"); }

int open_fds() {
  int n = 0;
  for ([[maybe_unused]] const auto& e :
       std::filesystem::directory_iterator("/proc/self/fd")) {
    ++n;
  }
  return n;
}

/// Puts a record no writer of ours writes at the head of this worker's ring
/// of replies, ahead of its reply: one larger than any ring (`skip` false),
/// or a mark that skips to the ring's end past what was written (`skip`
/// true). The pool must refuse it rather than read past the ring or what
/// was written. Offsets are `detail::ReplyRing`'s layout: the capacity,
/// `written` on the next cache line, `read` on the one after, records from
/// the fourth. -1 if this worker maps no ring of replies.
int corrupt_reply_ring(bool skip) {
  std::ifstream maps("/proc/self/maps");
  for (std::string line; std::getline(maps, line);) {
    if (line.find("memfd:cf-results") == std::string::npos) {
      continue;
    }
    auto* base = reinterpret_cast<unsigned char*>(
        static_cast<std::uintptr_t>(std::stoull(line, nullptr, 16)));
    std::uint64_t capacity = 0;
    std::memcpy(&capacity, base, sizeof capacity);
    auto& written = *reinterpret_cast<std::atomic<std::uint64_t>*>(base + 64);
    auto& read = *reinterpret_cast<std::atomic<std::uint64_t>*>(base + 128);
    const std::uint64_t at = read.load();
    const std::uint64_t size =
        skip ? ~std::uint64_t{0} : std::uint64_t{1} << 40;
    std::memcpy(base + 192 + (at & (capacity - 1)), &size, sizeof size);
    written.store(at + sizeof size);
    return 1;
  }
  return -1;
}

/// Writes `bytes` into this worker's results pipe, ahead of the reply: the
/// only pipe it holds open for writing but not for reading (the token pipe
/// of the pool's call queue is open both ways).
int write_into_results(std::string bytes) {
  std::vector<std::pair<int, ino_t>> writing;
  std::set<ino_t> reading;
  for (const auto& entry :
       std::filesystem::directory_iterator("/proc/self/fd")) {
    const int fd = std::stoi(entry.path().filename().string());
    struct stat info {};
    if (fd <= 2 || ::fstat(fd, &info) != 0 || !S_ISFIFO(info.st_mode)) {
      continue;
    }
    if ((::fcntl(fd, F_GETFL) & O_ACCMODE) == O_WRONLY) {
      writing.emplace_back(fd, info.st_ino);
    } else {
      reading.insert(info.st_ino);
    }
  }
  for (const auto& [fd, pipe] : writing) {
    if (!reading.contains(pipe)) {
      return static_cast<int>(::write(fd, bytes.data(), bytes.size()));
    }
  }
  return -1;
}

/// A frame: its length (host order, as the pool writes it), then `payload`.
std::string frame(std::string payload) {
  const std::uint64_t size = payload.size();
  std::string bytes(sizeof size, '\0');
  std::memcpy(bytes.data(), &size, sizeof size);
  return bytes + payload;
}

const char* method_name(cf::StartMethod m) {
  switch (m) {
  case cf::StartMethod::fork:
    return "fork";
  case cf::StartMethod::spawn:
    return "spawn";
  case cf::StartMethod::forkserver:
    break;
  }
  return "forkserver";
}

cf::StartMethod any_method() {
  return GENERATE(cf::StartMethod::forkserver, cf::StartMethod::fork,
                  cf::StartMethod::spawn);
}

/// Waits for a process that is not our child to end, without polling.
bool wait_for_exit(pid_t pid) {
  const int fd = static_cast<int>(::syscall(SYS_pidfd_open, pid, 0));
  if (fd < 0) {
    return errno == ESRCH; // already gone
  }
  pollfd p{fd, POLLIN, 0};
  const int ready = ::poll(&p, 1, 60'000);
  ::close(fd);
  return ready == 1;
}

} // namespace

TEST_CASE("a process pool runs calls with every start method",
          "[process_pool]") {
  const auto method = any_method();
  INFO(method_name(method));
  cf::ProcessPoolExecutor pool({.max_workers = 2, .start_method = method});
  CHECK(pool.submit(add, 2, 3).result(test::hang_guard) == 5);
  CHECK(pool.submit([](std::string s) { return s + "!"; }, std::string("hi"))
            .result(test::hang_guard) == "hi!");
  auto other_pid = pool.submit(my_pid).result(test::hang_guard);
  CHECK(other_pid != ::getpid());
  pool.submit([] {}).result(test::hang_guard);
}

TEST_CASE("exceptions come back as the same standard type, else as "
          "ExecutionFailed naming the type",
          "[process_pool]") {
  cf::ProcessPoolExecutor pool(1);
  auto range = pool.submit([]() -> int { throw std::out_of_range("index"); });
  CHECK_THROWS_AS(range.result(test::hang_guard), std::out_of_range);
  CHECK_THROWS_WITH(range.result(), "index");
  auto timeout = pool.submit([] { throw cf::TimeoutError("slow"); });
  CHECK_THROWS_AS(timeout.result(test::hang_guard), cf::TimeoutError);
  auto custom = pool.submit([] { throw CustomError("mine"); });
  try {
    custom.result(test::hang_guard);
    FAIL("no exception");
  } catch (const cf::ExecutionFailed& e) {
    CHECK(e.type_name().find("CustomError") != std::string::npos);
    CHECK(e.message() == "mine");
  }
  auto number = pool.submit([] { throw 42; });
  try {
    number.result(test::hang_guard);
    FAIL("no exception");
  } catch (const cf::ExecutionFailed& e) {
    CHECK(e.type_name() == "int");
  }
  CHECK(pool.submit(add, 1, 1).result(test::hang_guard) == 2); // still fine
}

TEST_CASE("a process pool works through Executor&, and a call that cannot "
          "cross fails at submit",
          "[process_pool]") {
  cf::ProcessPoolExecutor pool(1);
  cf::Executor& ex = pool;
  CHECK(ex.submit(add, 20, 22).result(test::hang_guard) == 42);
  int local = 1;
  CHECK_THROWS_AS(ex.submit([&local] { return local; }),
                  cf::SerializationError);
  CHECK(ex.submit(add, 1, 2).result(test::hang_guard) == 3);
}

TEST_CASE("process pool options are checked", "[process_pool]") {
  cpu_set_t set;
  CPU_ZERO(&set);
  REQUIRE(sched_getaffinity(0, sizeof set, &set) == 0);
  CHECK(cf::ProcessPoolExecutor().max_workers() == CPU_COUNT(&set));
  CHECK_THROWS_AS(cf::ProcessPoolExecutor(0), std::invalid_argument);
  CHECK_THROWS_AS(cf::ProcessPoolExecutor({.max_workers = -2}),
                  std::invalid_argument);
  CHECK_THROWS_AS(cf::ProcessPoolExecutor({.max_tasks_per_child = 0}),
                  std::invalid_argument);
}

TEST_CASE("map() on a process pool returns results in order",
          "[process_pool]") {
  cf::ProcessPoolExecutor pool(2);
  std::vector<int> xs{1, 2, 3, 4, 5, 6};
  std::vector<int> out;
  for (int y : pool.map([](int x) { return x * x; }, xs)) {
    out.push_back(y);
  }
  CHECK(out == std::vector<int>{1, 4, 9, 16, 25, 36});
}

TEST_CASE("a worker that dies breaks the pool: pending and later calls get "
          "BrokenProcessPool naming the worker and how it ended",
          "[process_pool][faults]") {
  const auto method = any_method();
  INFO(method_name(method));
  struct Fault {
    int (*task)(int);
    int arg;
    const char* how;
  };
  const Fault fault = GENERATE(Fault{die_by, SIGKILL, "SIGKILL"},
                               Fault{die_by, SIGSEGV, "SIGSEGV"},
                               Fault{die_by, SIGABRT, "SIGABRT"},
                               Fault{exit_with, 3, "exited with status 3"});
  INFO(fault.how);
  cf::ProcessPoolExecutor pool({.max_workers = 1, .start_method = method});
  test::ProcessGate gate;
  // The worker waits at the gate until everything is queued behind it, so
  // that the pool cannot break before the last submit.
  auto first = pool.submit(wait_then_pid, gate.path());
  auto dying = pool.submit(fault.task, fault.arg);
  std::vector<cf::Future<int>> pending;
  for (int i = 0; i < 3; ++i) {
    pending.push_back(pool.submit(add, i, i));
  }
  gate.open_gate();
  const int pid = first.result(test::hang_guard);
  CHECK_THROWS_MATCHES(dying.result(test::hang_guard), cf::BrokenProcessPool,
                       test::what_contains("worker " + std::to_string(pid)) &&
                           test::what_contains(fault.how));
  for (auto& f : pending) {
    CHECK_THROWS_AS(f.result(test::hang_guard), cf::BrokenProcessPool);
  }
  CHECK_THROWS_AS(pool.submit(add, 1, 1), cf::BrokenProcessPool);
}

TEST_CASE("a call that ends its worker with exit status 0 fails with "
          "BrokenProcessPool, even while the pool shuts down",
          "[process_pool][faults]") {
  // A clean exit is expected of a worker only at its quota or at the end of
  // the pipe of calls; with shutdown racing it, the call is left unanswered
  // by a worker that looked like it was done.
  const bool shut_down = GENERATE(false, true);
  INFO((shut_down ? "shutdown" : "no shutdown"));
  cf::ProcessPoolExecutor pool(1);
  auto quitting = pool.submit(exit_with, 0);
  if (shut_down) {
    pool.shutdown(true);
  }
  CHECK_THROWS_AS(quitting.result(test::hang_guard), cf::BrokenProcessPool);
}

TEST_CASE("a corrupt frame header ends the stream: no frame after it is read",
          "[process_pool][faults]") {
  // Junk and a valid frame that arrive together, or one read after the
  // other, must not let the valid frame through: it cannot be told apart
  // from more junk.
  auto [r, w] = cf::detail::make_pipe();
  cf::detail::set_nonblocking(r.get());
  const std::string junk(8, '\xff');
  const std::string valid = frame("ok");
  REQUIRE(::write(w.get(), junk.data(), junk.size()) == 8);
  REQUIRE(::write(w.get(), valid.data(), valid.size()) ==
          static_cast<ssize_t>(valid.size()));
  cf::detail::FrameReader reader;
  CHECK(reader.fill(r.get()) == cf::detail::FrameReader::Status::closed);
  CHECK(reader.corrupt());
  CHECK_FALSE(reader.next());
  REQUIRE(::write(w.get(), valid.data(), valid.size()) ==
          static_cast<ssize_t>(valid.size()));
  CHECK(reader.fill(r.get()) == cf::detail::FrameReader::Status::closed);
  CHECK_FALSE(reader.next());
}

TEST_CASE("a worker's unreadable reply breaks the pool instead of hanging or "
          "crashing it",
          "[process_pool][faults]") {
  const auto method = any_method();
  INFO(method_name(method));
  struct Garbage {
    std::string bytes;
    const char* expected; // in the BrokenProcessPool message
  };
  const Garbage garbage = GENERATE(
      Garbage{frame("\x7f junk"), "unreadable reply"}, // unknown message kind
      Garbage{frame(""), "unreadable reply"},          // an empty frame
      // A length past any frame: nothing after it can be read.
      Garbage{std::string(8, '\xff'), "unreadable reply"});
  cf::ProcessPoolExecutor pool({.max_workers = 1, .start_method = method});
  auto corrupting = pool.submit(write_into_results, garbage.bytes);
  std::string broken;
  try {
    if (corrupting.result(test::hang_guard) < 0) {
      WARN("the worker found no results pipe to corrupt: nothing was tested");
      return;
    }
    // Its reply came through shared memory, ahead of the bytes in the pipe:
    // the pool reads those before it can answer another call.
    const int answered = pool.submit(add, 1, 1).result(test::hang_guard);
    FAIL("the pool answered (" << answered << ") after an unreadable reply");
  } catch (const cf::BrokenProcessPool& e) {
    broken = e.what();
  }
  CHECK(broken.find(garbage.expected) != std::string::npos);
  CHECK_THROWS_AS(pool.submit(add, 1, 1), cf::BrokenProcessPool);
}

TEST_CASE("a record that does not fit its ring of replies breaks the pool "
          "instead of being read past the ring or what was written",
          "[process_pool][faults]") {
  const auto method = any_method();
  const bool skip = GENERATE(false, true);
  INFO(method_name(method) << (skip ? ": skip mark" : ": huge record"));
  // One worker: every ring of replies this worker maps is its own.
  cf::ProcessPoolExecutor pool({.max_workers = 1, .start_method = method});
  std::string broken;
  try {
    const int found =
        pool.submit(corrupt_reply_ring, skip).result(test::hang_guard);
    FAIL((found < 0 ? "the worker maps no ring of replies"
                    : "the pool answered past an unreadable record"));
  } catch (const cf::BrokenProcessPool& e) {
    broken = e.what();
  }
  CHECK(broken.find("does not fit its ring of replies") != std::string::npos);
  CHECK_THROWS_AS(pool.submit(add, 1, 1), cf::BrokenProcessPool);
}

TEST_CASE("a failed call's record that does not decode breaks the pool, "
          "failing that call too instead of leaving it pending",
          "[process_pool][faults]") {
  const auto method = any_method();
  INFO(method_name(method));
  // Two workers, so that the second call (id 2: a pool numbers its calls
  // from 1) is out, held at the gate, when the first one forges a reply for
  // it: failed, with an empty exception record.
  cf::ProcessPoolExecutor pool({.max_workers = 2, .start_method = method});
  test::ProcessGate gate;
  auto forging = pool.submit(
      write_into_results,
      frame(cf::detail::reply_head(cf::detail::Message::result, 2, false)));
  auto held = pool.submit(wait_then_pid, gate.path());
  try {
    if (forging.result(test::hang_guard) < 0) {
      WARN("the worker found no results pipe to corrupt: nothing was tested");
      return;
    }
  } catch (const cf::BrokenProcessPool&) {
    // the forged reply may be read before the forging call's own
  }
  CHECK_THROWS_MATCHES(held.result(test::hang_guard), cf::BrokenProcessPool,
                       test::what_contains("unreadable reply"));
  CHECK_THROWS_AS(pool.submit(add, 1, 1), cf::BrokenProcessPool);
}

/// A result that writes part of itself, then fails to encode (in the worker).
struct HalfEncodable {
  std::string text;
  template <class Archive> void serialize(Archive& ar) {
    ar(text);
    if constexpr (std::is_same_v<Archive, cf::OutputArchive>) {
      if (text == "fail") {
        throw std::length_error("cannot encode " + text);
      }
    }
  }
};

HalfEncodable half_encodable(std::string text) { return {std::move(text)}; }

TEST_CASE("a result that fails to encode in the worker comes back as its "
          "exception, and the worker's next result is whole",
          "[process_pool][errors]") {
  const auto method = any_method();
  INFO(method_name(method));
  // One worker, so the second result is encoded over the first one's buffer,
  // which still holds the bytes written before the failure.
  cf::ProcessPoolExecutor pool({.max_workers = 1, .start_method = method});
  auto failed = pool.submit(half_encodable, std::string("fail"));
  CHECK_THROWS_AS(failed.result(test::hang_guard), std::length_error);
  CHECK_THROWS_WITH(failed.result(), "cannot encode fail");
  CHECK(pool.submit(half_encodable, std::string("whole"))
            .result(test::hang_guard)
            .text == "whole");
  CHECK(pool.submit(add, 2, 3).result(test::hang_guard) == 5);
}

#if defined(__x86_64__)
TEST_CASE("a pool that cannot start a worker process breaks with "
          "BrokenProcessPool",
          "[process_pool][faults]") {
  // The fork server forks on its own, outside the filter: not this case.
  const auto method = GENERATE(cf::StartMethod::fork, cf::StartMethod::spawn);
  INFO(method_name(method));
  CHECK(test::in_child([method] {
          cf::ProcessPoolExecutor pool({.max_workers = 1,
                                        .start_method = method,
                                        .max_tasks_per_child = 1});
          if (pool.submit(add, 1, 1).result(test::hang_guard) != 2) {
            return 3; // the manager thread and a first worker ran
          }
          if (!test::forbid_new_threads(/*every_thread=*/true)) {
            return 2;
          }
          auto needs_new_worker = pool.submit(add, 2, 2);
          try {
            needs_new_worker.result(test::hang_guard);
            return 4;
          } catch (const cf::BrokenProcessPool& e) {
            if (std::string(e.what()).find("could not start a worker") ==
                std::string::npos) {
              std::fprintf(stderr, "child: %s\n", e.what());
              return 5;
            }
          }
          return 0;
        }) == 0);
}
#endif

TEST_CASE("a throwing initializer breaks the process pool",
          "[process_pool][faults]") {
  const auto method = any_method();
  INFO(method_name(method));
  cf::ProcessPoolExecutor pool({.max_workers = 2,
                                .start_method = method,
                                .initializer = cf::call(failing_initializer)});
  auto f = pool.submit(add, 1, 2);
  CHECK_THROWS_MATCHES(f.result(test::hang_guard), cf::BrokenProcessPool,
                       test::what_contains("no database"));
  CHECK_THROWS_AS(pool.submit(add, 1, 2), cf::BrokenProcessPool);
}

TEST_CASE("the initializer runs in each worker before its calls",
          "[process_pool]") {
  const auto method = any_method();
  INFO(method_name(method));
  cf::ProcessPoolExecutor pool({.max_workers = 2,
                                .start_method = method,
                                .initializer = cf::call(set_global, 7)});
  CHECK(pool.submit(get_global).result(test::hang_guard) == 7);
  CHECK(worker_global == 0); // the parent's copy is untouched
}

TEST_CASE("max_tasks_per_child replaces a worker after that many tasks",
          "[process_pool]") {
  const auto method = any_method();
  INFO(method_name(method));
  cf::ProcessPoolExecutor pool(
      {.max_workers = 1, .start_method = method, .max_tasks_per_child = 2});
  std::map<int, int> tasks_per_pid;
  for (int i = 0; i < 6; ++i) {
    ++tasks_per_pid[pool.submit(my_pid).result(test::hang_guard)];
  }
  CHECK(tasks_per_pid.size() == 3);
  for (const auto& [pid, count] : tasks_per_pid) {
    CHECK(count == 2);
  }
}

TEST_CASE("workers that reach max_tasks_per_child leave the chunks queued "
          "behind their last call to the others",
          "[process_pool]") {
  const auto method = any_method();
  INFO(method_name(method));
  cf::ProcessPoolExecutor pool(
      {.max_workers = 2, .start_method = method, .max_tasks_per_child = 3});
  std::vector<int> xs(200);
  std::map<int, int> items_per_pid;
  for (int pid : pool.map([](int) { return my_pid(); }, xs,
                          cf::MapOptions{.chunksize = 5})) {
    ++items_per_pid[pid];
  }
  int items = 0;
  for (const auto& [pid, count] : items_per_pid) {
    CHECK(count <= 3 * 5);
    items += count;
  }
  CHECK(items == 200);
  CHECK(items_per_pid.size() >= 200 / 15);
}

TEST_CASE("a worker forked while other threads name code still runs calls",
          "[process_pool]") {
  // Naming a function for another process walks the loaded modules under
  // the dynamic linker's lock. A worker forked while another thread holds
  // that lock inherits it locked, with no thread left to release it, and
  // would hang the first time it names code itself.
  cf::ProcessPoolExecutor pool({.max_workers = 2,
                                .start_method = cf::StartMethod::fork,
                                .max_tasks_per_child = 1}); // a fork per call
  std::atomic<bool> stop = false;
  std::jthread namer([&] {
    while (!stop) {
      (void)cf::serialize(&add); // names `add` by module and offset
    }
  });
  bool answered = true;
  for (int i = 0; i < 300 && answered; ++i) {
    try {
      CHECK(pool.submit(add, i, 1).result(test::hang_guard) == i + 1);
    } catch (const cf::TimeoutError&) {
      answered = false;
    }
  }
  stop = true;
  if (!answered) {
    pool.kill_workers(); // else the pool's destructor waits for the hung one
  }
  REQUIRE(answered);
}

TEST_CASE("64 MiB arguments and results in flight at once do not deadlock",
          "[process_pool]") {
  cf::ProcessPoolExecutor pool(2);
  std::vector<char> big(64 << 20);
  for (std::size_t i = 0; i < big.size(); i += 4096) {
    big[i] = static_cast<char>(i / 4096);
  }
  auto a = pool.submit(echo, big);
  auto b = pool.submit(echo, big);
  CHECK(a.result(test::hang_guard) == big);
  CHECK(b.result(test::hang_guard) == big);
}

TEST_CASE("calls and results of every size cross, small ones through shared "
          "memory and large ones through the pipes, in any mix",
          "[process_pool]") {
  const auto method = any_method();
  INFO(method_name(method));
  cf::ProcessPoolExecutor pool({.max_workers = 2, .start_method = method});
  // Around a slot of the ring of calls (at most 64 KiB) and half the ring
  // of replies (128 KiB), and far past both.
  const std::size_t sizes[] = {0,      1,       4000,    65'000,
                               66'000, 130'000, 140'000, 1 << 20};
  std::mt19937 random(11);
  std::vector<std::vector<char>> inputs;
  for (int i = 0; i < 48; ++i) {
    std::vector<char> bytes(sizes[random() % std::size(sizes)]);
    for (char& c : bytes) {
      c = static_cast<char>(random());
    }
    inputs.push_back(std::move(bytes));
  }
  std::vector<cf::Future<std::vector<char>>> calls;
  for (const auto& bytes : inputs) {
    calls.push_back(pool.submit(echo, bytes));
  }
  for (std::size_t i = 0; i < calls.size(); ++i) {
    REQUIRE(calls[i].result(test::hang_guard) == inputs[i]);
  }
  // Chunks of a map() on either side of a slot's size.
  std::size_t i = 0;
  for (const auto& bytes :
       pool.map(echo, inputs,
                cf::MapOptions{.timeout = test::hang_guard, .chunksize = 3})) {
    REQUIRE(bytes == inputs[i++]);
  }
  CHECK(i == inputs.size());
}

TEST_CASE("with several workers, calls still start in the order they were "
          "submitted, even behind a long call",
          "[process_pool]") {
  const auto method = any_method();
  INFO(method_name(method));
  cf::ProcessPoolExecutor pool({.max_workers = 2, .start_method = method});
  // Short calls first, as a pool that queued calls in a worker's pipe would
  // start doing once it knew its calls were short.
  for (int i = 0; i < 20; ++i) {
    REQUIRE(pool.submit(add, i, 1).result(test::hang_guard) == i + 1);
  }
  test::ProcessGate gate;
  test::ProcessSignal started;
  auto blocker = pool.submit(signal_wait_then_pid, started.path(), gate.path());
  started.wait();
  std::vector<cf::Future<long long>> calls;
  for (int i = 0; i < 40; ++i) {
    calls.push_back(pool.submit(started_at));
  }
  // None of them may wait behind the blocked call: the other worker is free.
  CHECK(cf::wait(calls, test::hang_guard).not_done.empty());
  gate.open_gate();
  CHECK(blocker.result(test::hang_guard) > 0);
  for (std::size_t i = 1; i < calls.size(); ++i) {
    CHECK(calls[i].result() > calls[i - 1].result());
  }
}

TEST_CASE("cancel() succeeds for calls not yet handed to a worker",
          "[process_pool]") {
  const auto method = any_method();
  INFO(method_name(method));
  test::ProcessGate gate;
  cf::ProcessPoolExecutor pool({.max_workers = 1, .start_method = method});
  auto running = pool.submit(wait_then_pid, gate.path());
  auto queued = pool.submit(my_pid);
  CHECK(queued.cancel());
  gate.open_gate();
  CHECK(running.result(test::hang_guard) > 0);
  CHECK(queued.cancelled());
  CHECK_FALSE(running.cancel());
}

TEST_CASE("shutdown(cancel_futures=true) cancels what no worker has taken",
          "[process_pool]") {
  test::ProcessGate gate;
  test::ProcessSignal started;
  cf::ProcessPoolExecutor pool(1);
  auto running = pool.submit(signal_wait_then_pid, started.path(), gate.path());
  started.wait();
  CHECK(running.running());
  std::vector<cf::Future<int>> queued;
  for (int i = 0; i < 4; ++i) {
    queued.push_back(pool.submit(add, i, 0));
  }
  pool.shutdown(false, true);
  for (auto& f : queued) {
    CHECK(f.cancelled());
  }
  gate.open_gate();
  CHECK(running.result(test::hang_guard) > 0);
  CHECK_THROWS_AS(pool.submit(add, 1, 1), std::runtime_error);
}

TEST_CASE("terminate_workers() and kill_workers() stop running calls with "
          "BrokenProcessPool",
          "[process_pool]") {
  const bool kill = GENERATE(false, true);
  test::ProcessGate gate;
  test::ProcessSignal started;
  cf::ProcessPoolExecutor pool(1);
  auto running = pool.submit(signal_wait_then_pid, started.path(), gate.path());
  started.wait();
  auto queued = pool.submit(add, 1, 1);
  if (kill) {
    pool.kill_workers();
  } else {
    pool.terminate_workers();
  }
  CHECK(queued.cancelled());
  CHECK_THROWS_MATCHES(running.result(test::hang_guard), cf::BrokenProcessPool,
                       test::what_contains(kill ? "SIGKILL" : "SIGTERM"));
  CHECK_THROWS_AS(pool.submit(add, 1, 1), std::runtime_error);
}

TEST_CASE("a process pool leaves no descriptor open and no zombie",
          "[process_pool][resources]") {
  const auto method = any_method();
  INFO(method_name(method));
  const int before = open_fds();
  {
    cf::ProcessPoolExecutor pool({.max_workers = 2, .start_method = method});
    std::vector<cf::Future<int>> fs;
    for (int i = 0; i < 8; ++i) {
      fs.push_back(pool.submit(add, i, 1));
    }
    CHECK(cf::wait(fs, test::hang_guard).not_done.empty());
  }
  CHECK(open_fds() == before);
  errno = 0;
  CHECK(::waitpid(-1, nullptr, WNOHANG) == -1);
  CHECK(errno == ECHILD);
}

TEST_CASE("workers see none of the parent's other descriptors",
          "[process_pool][resources]") {
  const auto method = any_method();
  INFO(method_name(method));
  cf::ProcessPoolExecutor pool({.max_workers = 1, .start_method = method});
  // 0, 1, 2; the shared pipe of calls and both ends of its token pipe; the
  // worker's results pipe (its setup pipe is closed once read, the shared
  // memory of calls and replies once mapped); and the descriptor that lists
  // them.
  CHECK(pool.submit(open_fds).result(test::hang_guard) == 8);
}

TEST_CASE("workers exit when the process that owns the pool is killed",
          "[process_pool][faults]") {
  const auto method = any_method();
  INFO(method_name(method));
  int report[2];
  REQUIRE(::pipe(report) == 0);
  const pid_t owner = ::fork();
  REQUIRE(owner >= 0);
  if (owner == 0) {
    ::close(report[0]);
    cf::ProcessPoolExecutor pool({.max_workers = 1, .start_method = method});
    const int worker = pool.submit(my_pid).result();
    [[maybe_unused]] auto n = ::write(report[1], &worker, sizeof worker);
    ::pause(); // until killed
    ::_exit(0);
  }
  ::close(report[1]);
  int worker = 0;
  REQUIRE(test::read_all(report[0], &worker, sizeof worker));
  ::close(report[0]);
  ::kill(owner, SIGKILL);
  ::waitpid(owner, nullptr, 0);
  CHECK(wait_for_exit(worker));
}

namespace {
bool is_even(int x) { return x % 2 == 0; }
int fail_on_13(int x) {
  if (x == 13) {
    throw std::domain_error("13");
  }
  return x;
}
} // namespace

TEST_CASE("map() with chunksize sends calls in chunks and yields results "
          "in order",
          "[process_pool][map]") {
  cf::ProcessPoolExecutor pool(2);
  std::vector<int> xs(100);
  for (int i = 0; i < 100; ++i) {
    xs[static_cast<std::size_t>(i)] = i;
  }
  std::vector<bool> evens;
  for (bool e : pool.map(is_even, xs, cf::MapOptions{.chunksize = 7})) {
    evens.push_back(e);
  }
  REQUIRE(evens.size() == 100);
  for (std::size_t i = 0; i < evens.size(); ++i) {
    CHECK(evens[i] == (i % 2 == 0));
  }
  // The free function uses the pool's own, chunked map.
  auto chunked = cf::map(pool, is_even, xs, cf::MapOptions{.chunksize = 50});
  STATIC_REQUIRE(
      std::is_same_v<decltype(chunked), cf::ChunkedMapResults<bool>>);
  int count = 0;
  for (bool e : chunked) {
    count += e ? 1 : 0;
  }
  CHECK(count == 50);
}

TEST_CASE("a chunked map() over many hand-overs runs every chunk once, in "
          "order, and one whose input throws midway rethrows it",
          "[process_pool][map]") {
  cf::ProcessPoolExecutor pool(2);
  // 300 chunks of 3: chunks go to the pool 128 at a time.
  std::vector<int> xs(900);
  std::iota(xs.begin(), xs.end(), 0);
  std::size_t i = 0;
  for (int y : pool.map([](int x) { return 2 * x; }, xs,
                        cf::MapOptions{.chunksize = 3})) {
    REQUIRE(i < xs.size());
    CHECK(y == 2 * xs[i]);
    ++i;
  }
  CHECK(i == xs.size());

  test::Counting input;
  input.fail_at = 1000; // in the third hand-over of 128 chunks of 3
  CHECK_THROWS_AS(
      pool.map([](int x) { return x; }, input, cf::MapOptions{.chunksize = 3}),
      std::length_error);
  CHECK(pool.submit(add, 1, 2).result(test::hang_guard) == 3);
  pool.shutdown(true);
  CHECK_THROWS_AS(
      pool.map([](int x) { return x; }, xs, cf::MapOptions{.chunksize = 3}),
      std::runtime_error);
}

// Copying one with value 13 throws: an input element that cannot be read.
struct CopyFailsAt13 {
  int value = 0;
  CopyFailsAt13() = default;
  explicit CopyFailsAt13(int v) : value(v) {}
  CopyFailsAt13(const CopyFailsAt13& other) : value(other.value) {
    if (value == 13) {
      throw std::length_error("element 13 cannot be copied");
    }
  }
  CopyFailsAt13& operator=(const CopyFailsAt13&) = default;
  template <class Archive> void serialize(Archive& ar) { ar(value); }
};

TEST_CASE("a chunked map() reads ranges of every kind in step, stopping at "
          "the shortest mid-chunk, and an element that cannot be copied throws",
          "[process_pool][map]") {
  cf::ProcessPoolExecutor pool(2);
  const auto sum3 = [](int a, long b, int c) {
    return a + static_cast<int>(b) + c;
  };
  std::vector<int> xs(40);
  std::iota(xs.begin(), xs.end(), 0);
  const std::deque<long> ys(xs.begin(), xs.begin() + 31); // the shortest
  const std::list<int> zs(xs.begin(), xs.end());          // read one by one
  const auto collect = [](auto&& results) {
    std::vector<int> out;
    for (int r : results) {
      out.push_back(r);
    }
    return out;
  };
  std::vector<int> expected;
  for (int i = 0; i < 31; ++i) {
    expected.push_back(3 * i);
  }
  for (int chunksize : {1, 4, 31, 64}) {
    CAPTURE(chunksize);
    // Random-access ranges only (read a block at a time), then with a list.
    CHECK(collect(pool.map(sum3, xs, ys, xs,
                           cf::MapOptions{.chunksize = chunksize})) ==
          expected);
    CHECK(collect(pool.map(sum3, zs, ys, xs,
                           cf::MapOptions{.chunksize = chunksize})) ==
          expected);
  }
  std::vector<int> one_range;
  for (int r : pool.map([](long y) { return static_cast<int>(y) + 1; }, ys,
                        cf::MapOptions{.chunksize = 8})) {
    one_range.push_back(r);
  }
  CHECK(one_range.size() == 31);
  CHECK(one_range.back() == 31);

  std::vector<CopyFailsAt13> fragile;
  fragile.reserve(20); // never copied here
  for (int i = 0; i < 20; ++i) {
    fragile.emplace_back(i);
  }
  CHECK_THROWS_AS(pool.map([](CopyFailsAt13 x) { return x.value; }, fragile,
                           cf::MapOptions{.chunksize = 4}),
                  std::length_error);
  CHECK(pool.submit(add, 1, 2).result(test::hang_guard) == 3);
}

TEST_CASE("a chunked map() whose chunk cannot be encoded in a later "
          "hand-over throws SerializationError and leaves the pool usable",
          "[process_pool][map]") {
  cf::ProcessPoolExecutor pool(2);
  // A null function pointer cannot cross: chunk 150 of 300, in the second
  // hand-over of 128 chunks, after chunks of that hand-over were encoded.
  std::vector<int (*)(int, int)> fns(300, &add);
  fns[149] = nullptr;
  CHECK_THROWS_AS(pool.map([](int (*fn)(int, int)) { return fn(1, 1); }, fns,
                           cf::MapOptions{.chunksize = 1}),
                  cf::SerializationError);
  CHECK(pool.submit(add, 2, 3).result(test::hang_guard) == 5);
}

TEST_CASE("a chunk whose call raised raises for each of its results, and "
          "iteration goes on",
          "[process_pool][map]") {
  cf::ProcessPoolExecutor pool(2);
  std::vector<int> xs(20);
  for (int i = 0; i < 20; ++i) {
    xs[static_cast<std::size_t>(i)] = i;
  }
  auto results =
      pool.map(fail_on_13, xs, cf::MapOptions{.chunksize = 4, .buffersize = 2});
  int good = 0;
  int failed = 0;
  for (auto it = results.begin(); it != results.end(); ++it) {
    try {
      good += *it >= 0 ? 1 : 0;
    } catch (const std::domain_error&) {
      ++failed;
    }
  }
  CHECK(good == 16);
  CHECK(failed == 4); // 12, 13, 14 and 15 share the failed chunk
}

TEST_CASE("a chunked map()'s results can be stepped over without reading "
          "them, within and across chunks",
          "[process_pool][map]") {
  cf::ProcessPoolExecutor pool(2);
  std::vector<int> xs(20);
  std::iota(xs.begin(), xs.end(), 0);
  auto results = pool.map(fail_on_13, xs, cf::MapOptions{.chunksize = 4});
  auto it = results.begin();
  for (int i = 0; i < 6; ++i) { // chunk 0 and half of chunk 1, never read
    ++it;
  }
  CHECK(*it == 6);
  CHECK(*it == 6); // reading twice reads the same result
  ++it;
  CHECK(*it == 7);
  ++it;
  CHECK(*it == 8);
  for (int i = 8; i < 16; ++i) { // the rest of chunk 2, the failed chunk 3
    ++it;
  }
  std::vector<int> rest;
  for (; it != results.end(); ++it) {
    rest.push_back(*it);
  }
  CHECK(rest == std::vector<int>{16, 17, 18, 19});

  // Nothing read at all: the steps still end where the input ends.
  auto unread = pool.map(fail_on_13, xs, cf::MapOptions{.chunksize = 3});
  int steps = 0;
  for (auto u = unread.begin(); u != unread.end(); ++u) {
    ++steps;
  }
  CHECK(steps == 20);
}

TEST_CASE("a chunked map() left midway goes on where it stopped, within a "
          "chunk, with a new iterator",
          "[process_pool][map]") {
  cf::ProcessPoolExecutor pool(2);
  std::vector<int> xs(20);
  std::iota(xs.begin(), xs.end(), 0);
  auto results = pool.map(fail_on_13, xs, cf::MapOptions{.chunksize = 4});
  STATIC_REQUIRE(std::ranges::input_range<decltype(results)>);
  std::vector<int> seen;
  for (int r : results) {
    seen.push_back(r);
    if (r == 5) {
      break; // in the middle of chunk 1
    }
  }
  auto again = results.begin(); // the loop stopped before stepping past 5
  CHECK(*again == 5);
  const auto copy = again; // reading through a copy reads the same result
  CHECK(*copy == 5);
  ++again;
  CHECK(*again == 6);
  ++again;
  ++again; // 8: chunk 2, not loaded yet
  for (auto it = results.begin(); it != results.end(); ++it) {
    try {
      seen.push_back(*it);
    } catch (const std::domain_error&) {
      seen.push_back(-1);
    }
  }
  CHECK(seen == std::vector<int>{0, 1, 2, 3, 4, 5, 8, 9, 10, 11, -1, -1, -1, -1,
                                 16, 17, 18, 19});
  CHECK(results.begin() == results.end());
}

TEST_CASE("a chunked map() of slow calls queues one chunk per worker ahead, "
          "so that dropping it leaves no more running",
          "[process_pool][map]") {
  // Fast chunks queue deeper (as many as take about a millisecond), but a
  // pool that has not timed a call yet, or whose calls are slow, keeps one
  // chunk per worker waiting: only that one runs after the map is dropped.
  test::ProcessGate gate;
  test::ProcessSignal started;
  const test::Fifo ran_dir; // a fresh directory for the marks
  const std::string ran = ran_dir.path() + ".ran";
  cf::ProcessPoolExecutor pool(1);
  std::vector<std::string> starts(20);
  starts[0] = started.path();
  const std::vector<std::string> gates(20, gate.path());
  const std::vector<std::string> rans(20, ran);
  {
    auto results = pool.map(signal_wait_then_mark, starts, gates, rans,
                            cf::MapOptions{.chunksize = 1});
    started.wait(); // what the manager may write is in the pipe by now
  }                 // dropped: every chunk not in the pipe is cancelled
  gate.open_gate();
  pool.shutdown(true);
  const auto marks = std::filesystem::file_size(ran);
  CHECK(marks >= 1);
  CHECK(marks <= 2); // the running call and the one queued behind it
}
