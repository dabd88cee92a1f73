#pragma once
/// \file
/// `ProcessPoolExecutor`: runs calls in a pool of worker processes (Python's
/// `concurrent.futures.ProcessPoolExecutor`), and `worker_main`.

#if !defined(__linux__)
#error                                                                         \
    "ProcessPoolExecutor needs Linux (prctl, signalfd, pipe2, /proc); the rest of the library is portable"
#endif

#include <concurrent/futures/call.hpp>
#include <concurrent/futures/detail/deadline.hpp>
#include <concurrent/futures/detail/pipe_channel.hpp>
#include <concurrent/futures/detail/posix.hpp>
#include <concurrent/futures/detail/shared_state.hpp>
#include <concurrent/futures/detail/spawn.hpp>
#include <concurrent/futures/detail/spin.hpp>
#include <concurrent/futures/detail/wire.hpp>
#include <concurrent/futures/detail/worker.hpp>
#include <concurrent/futures/errors.hpp>
#include <concurrent/futures/executor.hpp>
#include <concurrent/futures/serialization.hpp>

#include <algorithm>
#include <atomic>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <exception>
#include <mutex>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/wait.h>
#include <unistd.h>

namespace concurrent::futures {

/// How a process pool starts its workers.
enum class StartMethod {
  /// Each worker is a fork of the pool's manager thread: fastest to start;
  /// a worker inherits whatever locks other threads held at that instant.
  fork,
  /// Each worker re-executes this program's binary, which must call
  /// `cf::worker_main(argc, argv)` first thing in main(). Fresh workers that
  /// share nothing with the parent but the code.
  spawn,
  /// Workers are forked from one single-threaded server process, itself
  /// forked when the pool starts its first worker. The default: no worker is
  /// forked from a multithreaded process, and no `worker_main` is needed.
  forkserver
};

/// Options of `ProcessPoolExecutor`, in the order designated initializers
/// must follow.
struct ProcessPoolOptions {
  /// Most worker processes (`>= 1`); no value: CPUs this process may use.
  std::optional<int> max_workers{};
  StartMethod start_method = StartMethod::forkserver;
  /// Run by each worker before its first task (`cf::call(fn, args...)`). If
  /// it throws, the pool is broken: pending and later calls fail with
  /// `BrokenProcessPool`.
  std::optional<Call> initializer{};
  /// A worker exits after this many tasks (`>= 1`) and a fresh one replaces
  /// it; no value: workers live as long as the pool.
  std::optional<int> max_tasks_per_child{};
};

/// In a program that uses `StartMethod::spawn`, call this first in main():
/// in a spawned worker it runs the worker and never returns; anywhere else
/// it returns at once.
inline void worker_main(int argc, char** argv) {
  if (argc < 3 || std::string_view(argv[1]) != detail::worker_flag) {
    return;
  }
  ::unsetenv(detail::spawned_variable);
  const auto parent = static_cast<pid_t>(std::atol(argv[2]));
  detail::detach_from_parent_threads(parent);
  detail::worker_loop(detail::spawned_fds);
}

/// A pool of at most `max_workers` processes. The callable, the arguments
/// and the result cross by value, through shared memory or pipes (see
/// `cf::transferable`); a call's exception comes back as the same type for
/// the standard exceptions and this library's errors, else as
/// `ExecutionFailed` naming its type. A worker that dies breaks the pool:
/// every pending future gets `BrokenProcessPool`; nothing hangs; no worker
/// outlives the pool's process.
///
/// \code
///   cf::ProcessPoolExecutor pool;
///   auto f = pool.submit(is_prime, 112272535095293LL);
///   bool prime = f.result();
/// \endcode
class ProcessPoolExecutor : public Executor {
public:
  using Options = ProcessPoolOptions;

  /// `max_workers` = CPUs this process may use; forkserver.
  ProcessPoolExecutor() : ProcessPoolExecutor(Options{}) {}

  /// Throws `std::invalid_argument` if `max_workers <= 0`.
  explicit ProcessPoolExecutor(int max_workers)
      : ProcessPoolExecutor(Options{.max_workers = max_workers}) {}

  /// Throws `std::invalid_argument` if `max_workers` or
  /// `max_tasks_per_child` is `<= 0`.
  explicit ProcessPoolExecutor(Options options)
      : max_workers_(options.max_workers.value_or(detail::usable_cpu_count())),
        method_(options.start_method),
        initializer_(std::move(options.initializer)),
        max_tasks_per_child_(options.max_tasks_per_child.value_or(0)) {
    if (max_workers_ <= 0) {
      throw std::invalid_argument("max_workers must be greater than 0");
    }
    if (options.max_tasks_per_child && *options.max_tasks_per_child <= 0) {
      throw std::invalid_argument("max_tasks_per_child must be >= 1");
    }
    if (std::getenv(detail::spawned_variable) != nullptr) {
      // A spawned worker whose main() went past worker_main: stop before it
      // spawns workers of its own.
      std::fputs("concurrent::futures: this process was spawned as a "
                 "process pool worker, but main() did not call "
                 "cf::worker_main(argc, argv) first\n",
                 stderr);
      ::_exit(70);
    }
    auto [r, w] = detail::make_pipe();
    detail::set_nonblocking(r.get());
    detail::set_nonblocking(w.get());
    wake_read_ = std::move(r);
    wake_write_ = std::move(w);
    calls_ = detail::CallPipe::make(ring_slots(max_workers_),
                                    ring_slot_bytes(max_workers_));
    detail::set_nonblocking(calls_.write.get());
    if (method_ == StartMethod::forkserver) {
      // Forked now, before this pool has threads of its own: a child forked
      // while another thread holds a lock (the sanitizers' allocators, say)
      // inherits it held forever, and every worker is the server's child.
      try {
        server_.emplace();
      } catch (const std::exception&) {
        // Tried again at the first worker, which then breaks the pool.
      }
    }
  }

  /// Shuts down and waits for the workers (`shutdown(true)`).
  ~ProcessPoolExecutor() override { shutdown(true); }

  /// As `Executor::submit`, but a callable, argument or result type that
  /// cannot cross to a worker is a compile error here.
  template <class F, class... Args>
  requires submittable<F, Args...>
  [[nodiscard]] Future<submit_result_t<F, Args...>> submit(F&& fn,
                                                           Args&&... args) {
    static_assert(detail::call_crosses<F, Args...>());
    return Executor::submit(std::forward<F>(fn), std::forward<Args>(args)...);
  }

  /// As `Executor::map`, but the calls travel in chunks of
  /// `MapOptions::chunksize` (one message each way per chunk); results still
  /// come one by one in input order.
  template <class Fn, class... Args>
  [[nodiscard]] auto map(Fn&& fn, Args&&... args) {
    static_assert(detail::callable_crosses<std::decay_t<Fn>>());
    return detail::map_dispatch_to(
        [](ProcessPoolExecutor& ex, auto&& f, const MapOptions& options,
           auto&&... ranges) {
          return detail::map_chunked(ex, std::forward<decltype(f)>(f), options,
                                     std::forward<decltype(ranges)>(ranges)...);
        },
        *this, std::forward<Fn>(fn), std::forward<Args>(args)...);
  }

  /// The most worker processes this pool runs at once.
  [[nodiscard]] int max_workers() const noexcept { return max_workers_; }

  /// Sends SIGTERM to every live worker and shuts down without waiting
  /// (calls not started are cancelled; running ones fail with
  /// `BrokenProcessPool`). Submit nothing afterwards.
  void terminate_workers() { stop_workers(SIGTERM); }

  /// As `terminate_workers`, with SIGKILL.
  void kill_workers() { stop_workers(SIGKILL); }

protected:
  void enqueue(detail::StateBase::Ptr task) override {
    std::string spare;
    {
      std::lock_guard lock(mutex_);
      spare = pop_spare_call();
    }
    std::string call = task->encode_call(std::move(spare)); // throws: at submit
    Job job{std::move(task), std::move(call)};
    admit(std::span(&job, 1));
  }

  // map()'s batches: encoded one by one, queued under one lock acquisition
  // with at most one wake-up of the manager.
  void enqueue_all(std::vector<detail::StateBase::Ptr>& tasks,
                   detail::BatchOf kind) override {
    std::vector<Job> jobs(tasks.size());
    {
      std::lock_guard lock(mutex_);
      for (Job& job : jobs) {
        job.call = pop_spare_call();
      }
    }
    for (std::size_t i = 0; i < tasks.size(); ++i) {
      jobs[i].call = tasks[i]->encode_call(std::move(jobs[i].call));
      jobs[i].task = std::move(tasks[i]);
      jobs[i].chunk = kind == detail::BatchOf::chunks;
    }
    admit(jobs);
  }

  void do_shutdown(bool wait, bool cancel_futures) override {
    std::deque<Job> cancelled;
    {
      std::lock_guard lock(mutex_);
      shutdown_ = true;
      if (cancel_futures) {
        cancelled.swap(pending_);
      }
    }
    for (Job& job : cancelled) {
      job.task->cancel(job.task);
      job.task->run(job.task); // releases what is left of the call
    }
    wake();
    if (wait) {
      std::lock_guard join_lock(join_mutex_);
      if (manager_.joinable()) {
        manager_.join();
      }
    }
  }

private:
  struct Job {
    detail::StateBase::Ptr task;
    std::string call;
    bool chunk = false; // of a chunked map(): may be queued ahead
  };

  using Clock = std::chrono::steady_clock;

  // A chunked map() queues about this much work per worker ahead of the
  // workers' current calls (work that runs even if the map is dropped), and
  // never more than `most_chunks_ahead` chunks per worker.
  static constexpr std::chrono::milliseconds queued_work_per_worker{1};
  static constexpr std::size_t most_chunks_ahead = 16;

  // The ring of calls has a slot for every call the pool may have out (see
  // `room_for`), up to a bound past which fewer chunks wait ahead; slots
  // share a few MiB (pages are touched only as calls fill them), and calls
  // larger than a slot go through the pipe of calls.
  static std::size_t ring_slots(int workers) noexcept {
    return std::min<std::size_t>(
        (1 + most_chunks_ahead) * static_cast<std::size_t>(workers), 4096);
  }
  static std::size_t ring_slot_bytes(int workers) noexcept {
    return std::clamp<std::size_t>((std::size_t{4} << 20) / ring_slots(workers),
                                   std::size_t{4} << 10, std::size_t{64} << 10);
  }

  // How long a call takes, as the manager sees answers arrive while calls
  // are out (time with none out is no call's).
  class CallPace {
  public:
    void busy_from(Clock::time_point now) noexcept { since_ = now; }
    void answered(Clock::time_point now, int workers) noexcept {
      const Clock::duration per_call = (now - since_) * workers;
      since_ = now;
      estimate_ = known_ ? (estimate_ * 7 + per_call) / 8 : per_call;
      known_ = true;
    }
    // Chunks that may wait per worker; one until a call has been timed.
    [[nodiscard]] std::size_t chunks_ahead() const noexcept {
      if (!known_) {
        return 1;
      }
      if (estimate_ <= Clock::duration::zero()) {
        return most_chunks_ahead;
      }
      const std::int64_t fit = queued_work_per_worker / estimate_;
      return static_cast<std::size_t>(std::clamp<std::int64_t>(
          fit, 1, static_cast<std::int64_t>(most_chunks_ahead)));
    }

  private:
    Clock::time_point since_{};
    Clock::duration estimate_{};
    bool known_ = false;
  };

  // A call handed to the workers, not yet answered.
  struct InFlight {
    std::uint64_t id;
    detail::StateBase::Ptr task;
  };
  // A call marked running whose slot in the ring was not free yet.
  struct Unsent {
    std::uint64_t id;
    std::string call;
  };

  // Everything the manager thread knows of one worker process.
  struct Worker {
    detail::WorkerProcess process;
    detail::FrameReader reader;
    detail::FrameWriter setup;
    bool ready = false; // initializer done
    bool results_closed = false;
    bool readable = false; // the last poll saw its results pipe ready
    Clock::time_point closed_at{};
    int answered = 0; // results received, for max_tasks_per_child
  };

  // The buffers of calls the manager has copied into the ring go back to the
  // submitters, who encode later calls into them: glibc's malloc gives each
  // thread its own arena, and a block freed by another thread takes the
  // owner's arena lock. With the manager freeing what the submitter
  // allocated, the two contended for it on every chunk of a map (W3 took
  // 8% longer). Up to `spare_call_bytes` wait for reuse, and none longer
  // than `spare_calls_kept_ms` once the pool is idle.
  static constexpr std::size_t spare_call_bytes = std::size_t{8} << 20;
  static constexpr int spare_calls_kept_ms = 50;

  // Under the lock: a buffer to encode a call into (empty if none is kept).
  std::string pop_spare_call() {
    if (spare_calls_.empty()) {
      return {};
    }
    std::string buffer = std::move(spare_calls_.back());
    spare_calls_.pop_back();
    spare_bytes_ -= buffer.capacity();
    return buffer;
  }

  // Under the lock: keeps the sent calls' buffers that fit the bound.
  void keep_spare_calls() {
    for (std::string& buffer : sent_calls_) {
      if (spare_bytes_ + buffer.capacity() > spare_call_bytes) {
        break;
      }
      spare_bytes_ += buffer.capacity();
      spare_calls_.push_back(std::move(buffer));
    }
  }

  [[nodiscard]] bool holds_spare_calls() {
    std::lock_guard lock(mutex_);
    return !spare_calls_.empty();
  }

  void drop_spare_calls() {
    std::vector<std::string> dropped;
    std::lock_guard lock(mutex_);
    dropped.swap(spare_calls_);
    spare_bytes_ = 0;
  }

  // Queues encoded calls for the manager, all or none.
  void admit(std::span<Job> jobs) {
    {
      std::lock_guard lock(mutex_);
      if (!broken_.empty()) {
        throw BrokenProcessPool(broken_);
      }
      if (shutdown_) {
        throw std::runtime_error("cannot schedule new futures after shutdown");
      }
      for (Job& job : jobs) {
        pending_.push_back(std::move(job));
      }
      if (!manager_.joinable()) {
        manager_ = std::jthread(start_manager_, this);
      }
      // A manager that is not waiting will see the jobs anyway; a write to
      // the wake pipe per submit would cost more than a small task.
      if (!std::exchange(manager_waiting_, false)) {
        return;
      }
    }
    wake();
  }

  void wake() noexcept {
    woken_.store(true, std::memory_order_relaxed);
    const char byte = 1;
    [[maybe_unused]] const ssize_t n = ::write(wake_write_.get(), &byte, 1);
  }

  void stop_workers(int signal) {
    {
      std::lock_guard lock(mutex_);
      signal_request_ = signal;
    }
    do_shutdown(false, true);
  }

  static std::string describe_exit(int status) {
    if (WIFEXITED(status)) {
      return "exited with status " + std::to_string(WEXITSTATUS(status));
    }
    if (WIFSIGNALED(status)) {
      const int sig = WTERMSIG(status);
      const char* abbrev = ::sigabbrev_np(sig);
      return "was killed by signal " + std::to_string(sig) + " (SIG" +
             (abbrev != nullptr ? abbrev : "?") + ": " + ::strsignal(sig) + ")";
    }
    return "ended with wait status " + std::to_string(status);
  }

  static void fail(const detail::StateBase::Ptr& task, std::exception_ptr e) {
    task->try_fail(task, std::move(e));
    task->run(task); // releases what is left of the call
  }

  void fail_in_flight(const std::exception_ptr& e) {
    for (InFlight& call : std::exchange(in_flight_, {})) {
      fail(call.task, e);
    }
  }

  // How many calls may be handed to the workers or running before `job` is:
  // one per worker, so that a call is marked running only when a worker is
  // free for it (or starting for it) and the others stay cancellable.
  // Chunks of a map() may wait in the ring behind the workers' current
  // calls, so that a worker that finishes one takes the next without
  // waiting for this thread (with 1 per worker, W3 took 1.5 times as long:
  // workers waited for the manager's writes); as many as take about
  // `queued_work_per_worker`, so that few slow chunks run after their map is
  // dropped; never more than the ring has slots. Python queues one extra
  // call of any kind.
  [[nodiscard]] std::size_t room_for(const Job& job) const noexcept {
    const auto workers = static_cast<std::size_t>(max_workers_);
    return std::min(job.chunk ? (1 + pace_.chunks_ahead()) * workers : workers,
                    calls_.ring.slots());
  }

  // Hands calls to the workers: into the ring of calls, or, when one does
  // not fit a slot, a note there and the call into the pipe of calls. The
  // ring has a slot for each call out, but a worker may still be copying an
  // old call out of the slot needed next (while the other workers answered
  // the calls after it): the rest wait for its answer, which comes after.
  void send_calls() {
    if (!calls_.write) {
      unsent_.clear(); // the pool broke: these calls have failed
      return;
    }
    for (; !unsent_.empty() && calls_.ring.has_room(); unsent_.pop_front()) {
      auto& [id, call] = unsent_.front();
      OutputArchive head;
      head.write_size(id);
      const std::string& bytes = head.bytes();
      calls_.ring.push(bytes, call);
      if (!calls_.ring.fits(bytes.size() + call.size())) {
        calls_writer_.push(std::move(head).bytes(), std::move(call));
      } else {
        sent_calls_.push_back(std::move(call));
      }
    }
    calls_.ring.publish();
  }

  // No more calls: each worker finishes what it took, and exits.
  void close_calls() noexcept {
    if (calls_.write) {
      calls_.write.reset();
      calls_.ring.close();
    }
  }

  // Bytes written to the pipe of calls that no worker has read yet.
  [[nodiscard]] int calls_unread() const noexcept {
    int bytes = 0;
    return ::ioctl(calls_.read.get(), FIONREAD, &bytes) == 0 ? bytes : 0;
  }

  [[nodiscard]] bool quota_done(const Worker& w) const noexcept {
    return max_tasks_per_child_ != 0 && w.answered >= max_tasks_per_child_;
  }

  // Whether a worker will take more calls.
  [[nodiscard]] bool takes_calls(const Worker& w) const noexcept {
    return !w.results_closed && !quota_done(w);
  }

  // CPython's `_ExecutorManagerThread`: the only thread that talks to the
  // workers. It hands calls to the queue all workers take them from,
  // collects results, notices deaths, and starts and stops processes.
  void manage() {
    sigset_t pipe_signal;
    sigemptyset(&pipe_signal);
    sigaddset(&pipe_signal, SIGPIPE);
    // A worker that dies makes our writes fail with EPIPE, not kill us.
    ::pthread_sigmask(SIG_BLOCK, &pipe_signal, nullptr);

    std::vector<Worker> workers;
    std::uint64_t next_id = 1;
    bool answered = false; // results arrived in the last round

    for (;;) {
      std::vector<detail::StateBase::Ptr> skipped;
      std::size_t to_start = 0;
      int signal = 0;
      bool stopping = false;
      {
        std::lock_guard lock(mutex_);
        manager_waiting_ = false;
        keep_spare_calls();
        while (!pending_.empty() &&
               in_flight_.size() < room_for(pending_.front())) {
          Job job = std::move(pending_.front());
          pending_.pop_front();
          detail::Status was{};
          if (!job.task->try_start(was)) {
            skipped.push_back(std::move(job.task)); // cancelled meanwhile
            continue;
          }
          const std::uint64_t id = next_id++;
          if (in_flight_.empty()) {
            pace_.busy_from(Clock::now());
          }
          in_flight_.push_back({id, std::move(job.task)});
          unsent_.push_back({id, std::move(job.call)});
        }
        const auto most = static_cast<std::size_t>(max_workers_);
        const std::size_t wanted =
            std::min(in_flight_.size() + pending_.size(), most);
        const auto taking = static_cast<std::size_t>(
            std::count_if(workers.begin(), workers.end(),
                          [this](const Worker& w) { return takes_calls(w); }));
        if (broken_.empty() && wanted > taking && workers.size() < most) {
          to_start = std::min(wanted - taking, most - workers.size());
        }
        signal = std::exchange(signal_request_, 0);
        stopping = (shutdown_ || !broken_.empty()) && pending_.empty();
        manager_waiting_ = true; // from here on, a submit must wake us
      }
      sent_calls_.clear(); // those not kept
      send_calls();        // copies outside the lock
      for (auto& task : skipped) {
        task->run(task);
      }
      if (signal != 0) {
        for (Worker& w : workers) {
          send_signal(w, signal);
        }
      }
      if (stopping && unsent_.empty() && calls_writer_.empty()) {
        close_calls();
      }
      // Once every call is taken, a call still unanswered when no worker is
      // left was taken by a worker that exited inside it as if it were done
      // (exit(0) in the call): no fresh worker could answer it.
      const bool all_taken =
          !calls_.write && calls_.ring.all_taken() && calls_unread() == 0;
      if (all_taken) {
        to_start = 0;
      }
      for (std::size_t i = 0; i < to_start; ++i) {
        try {
          workers.push_back(start_worker());
        } catch (const std::exception& e) {
          break_pool(workers,
                     std::string("could not start a worker process: ") +
                         e.what());
          break;
        }
      }
      if (all_taken && workers.empty()) {
        fail_in_flight(std::make_exception_ptr(BrokenProcessPool(
            "A process in the process pool exited with status 0 while the "
            "future was running")));
      }
      if (stopping && workers.empty() && in_flight_.empty()) {
        server_.reset();
        return;
      }

      wait_for_io(workers, answered);

      answered = false;
      for (Worker& w : workers) {
        answered = drain_results(w, workers) || answered;
      }
      reap(workers);
    }
  }

  // Signals a worker that has not been reaped. A forkserver worker is the
  // server's child, so the server sends the signal.
  void send_signal(const Worker& w, int signal) {
    if (server_) {
      server_->signal(w.process.pid, signal);
    } else {
      ::kill(w.process.pid, signal);
    }
  }

  Worker start_worker() {
    Worker w;
    switch (method_) {
    case StartMethod::fork:
      w.process = detail::fork_worker(calls_);
      break;
    case StartMethod::spawn:
      w.process = detail::spawn_worker(calls_);
      break;
    case StartMethod::forkserver:
      if (!server_) {
        server_.emplace();
      }
      w.process = server_->start_worker(calls_, exits_);
      break;
    }
    detail::set_nonblocking(w.process.setup.get());
    detail::set_nonblocking(w.process.results.get());
    OutputArchive setup;
    std::optional<std::string> initializer;
    if (initializer_) {
      initializer = initializer_->bytes();
    }
    setup(initializer);
    setup.write_size(static_cast<std::uint64_t>(max_tasks_per_child_));
    w.setup.push(std::move(setup).bytes());
    return w;
  }

  // Blocks until a pipe needs attention, and marks the workers whose
  // results pipe is ready (only those are read: a read that finds nothing
  // is a system call for nothing). When an answer may come soon (a task is
  // out, or one was just answered and its submitter may follow up at once),
  // polls for a moment first: a wake-up costs more than a short task, and
  // on a busy machine spin_until gives up at once.
  void wait_for_io(std::vector<Worker>& workers, bool just_answered) {
    const bool expecting = just_answered || !in_flight_.empty();
    std::vector<pollfd> fds;
    fds.push_back({wake_read_.get(), POLLIN, 0});
    if (server_) {
      fds.push_back({server_->fd(), POLLIN, 0});
    }
    // Flush first: most frames fit the pipe and need no second look.
    if (calls_.write && !calls_writer_.flush(calls_.write.get())) {
      break_pool(workers, std::string("could not write to the workers' pipe "
                                      "of calls: ") +
                              std::strerror(errno));
    }
    if (calls_.write && !calls_writer_.empty()) {
      fds.push_back({calls_.write.get(), POLLOUT, 0});
    }
    bool awaiting_exit = false;
    for (Worker& w : workers) {
      if (w.process.setup && !w.setup.flush(w.process.setup.get())) {
        w.setup = {}; // the worker is gone; its results pipe says how
      }
      if (w.setup.empty()) {
        w.process.setup.reset();
      } else {
        fds.push_back({w.process.setup.get(), POLLOUT, 0});
      }
      if (!w.results_closed) {
        fds.push_back({w.process.results.get(), POLLIN, 0});
      } else {
        awaiting_exit = true;
      }
    }
    const auto replies_waiting = [&] {
      return std::any_of(workers.begin(), workers.end(), [](const Worker& w) {
        return w.process.replies.has_record();
      });
    };
    // Results come in shared memory, and a wake() sets a flag: both are
    // seen without a system call. Pipes (large results, exits, the fork
    // server) wait for the poll that follows.
    const bool busy =
        expecting && detail::spin_until([&] {
          return replies_waiting() || woken_.load(std::memory_order_relaxed);
        });
    woken_.store(false, std::memory_order_relaxed);
    // From here a worker that adds a result wakes us through its pipe (a
    // result already there keeps us awake).
    const bool sleeps =
        !busy && std::all_of(workers.begin(), workers.end(), [](Worker& w) {
          return w.process.replies.sleep_unless_record();
        });
    // A worker whose pipe closed is about to exit; look again soon. An
    // idle pool wakes once more to drop the buffers kept for reuse.
    int timeout = !sleeps ? 0 : awaiting_exit ? 10 : -1;
    const bool idle = timeout < 0 && in_flight_.empty() && holds_spare_calls();
    if (idle) {
      timeout = spare_calls_kept_ms;
    }
    if (::poll(fds.data(), fds.size(), timeout) == 0 && idle) {
      drop_spare_calls();
    }
    for (Worker& w : workers) {
      w.process.replies.woke();
    }
    const auto ready = [&](int fd) {
      return std::any_of(fds.begin(), fds.end(), [fd](const pollfd& p) {
        return p.fd == fd && p.revents != 0;
      });
    };
    for (Worker& w : workers) {
      w.readable = !w.results_closed && ready(w.process.results.get());
    }
    if (fds.front().revents != 0) {
      char drain[256];
      while (::read(wake_read_.get(), drain, sizeof drain) > 0) {
      }
    }
    if (server_ && ready(server_->fd())) {
      while (auto report = server_->receive(false)) {
        exits_.push_back(*report);
      }
      if (server_->gone()) {
        break_pool(workers, "the process pool's fork server died");
        server_.reset();
      }
    }
  }

  // Returns whether any frame arrived. The pipe is read first: results a
  // worker put in its ring before it exited are there when its pipe's end
  // is seen.
  bool drain_results(Worker& w, std::vector<Worker>& workers) {
    auto status = detail::FrameReader::Status::open;
    bool any = false;
    if (std::exchange(w.readable, false)) {
      status = w.reader.fill(w.process.results.get());
      while (auto frame = w.reader.next()) {
        handle_frame(w, *frame, workers);
        any = true;
      }
    }
    if (!w.process.replies.drain([&](std::string_view reply) {
          handle_frame(w, reply, workers);
          any = true;
        })) {
      break_pool(workers, "a worker sent an unreadable reply: a record that "
                          "does not fit its ring of replies");
      status = detail::FrameReader::Status::closed;
    }
    if (w.reader.corrupt()) {
      // The rest of its stream cannot be framed, so neither can its work.
      break_pool(workers, "a worker sent an unreadable reply: a frame header "
                          "announcing more than any frame can hold");
    }
    if (status == detail::FrameReader::Status::closed || w.reader.corrupt()) {
      w.results_closed = true;
      w.closed_at = Clock::now();
      w.process.results.reset();
    }
    return any;
  }

  void handle_frame(Worker& w, std::string_view frame,
                    std::vector<Worker>& workers) {
    try {
      InputArchive in(frame);
      const auto kind = in.read<detail::Message>();
      const std::uint64_t id = in.read_size();
      const bool ok = in.read<bool>();
      const std::string_view body = frame.substr(frame.size() - in.remaining());
      switch (kind) {
      case detail::Message::wakeup:
        return; // its ring is read every round
      case detail::Message::ready:
        w.ready = true; // the next round gives it work
        return;
      case detail::Message::init_failed: {
        InputArchive record(body);
        std::string what = "(unknown)";
        try {
          std::rethrow_exception(detail::decode_exception(record));
        } catch (const std::exception& e) {
          what = e.what();
        }
        break_pool(workers, "A process in the process pool failed in its "
                            "initializer, the pool is not usable anymore: " +
                                what);
        return;
      }
      case detail::Message::result: {
        const auto call =
            std::find_if(in_flight_.begin(), in_flight_.end(),
                         [id](const InFlight& c) { return c.id == id; });
        if (call == in_flight_.end()) {
          throw SerializationError("result for a task that is not running");
        }
        // Read before the task leaves `in_flight_`: a record that does not
        // decode breaks the pool, which then fails this task with the rest.
        std::exception_ptr error;
        if (!ok) {
          InputArchive record(body);
          error = detail::decode_exception(record);
        }
        detail::StateBase::Ptr task = std::move(call->task);
        in_flight_.erase(call);
        pace_.answered(Clock::now(), max_workers_);
        ++w.answered;
        if (ok) {
          task->publish_encoded(task, body);
        } else {
          task->try_fail(task, std::move(error));
        }
        return;
      }
      default:
        throw SerializationError("unknown message from a worker");
      }
    } catch (const std::exception& e) {
      break_pool(workers,
                 std::string("a worker sent an unreadable reply: ") + e.what());
    }
  }

  // Removes workers that have exited; an exit nobody asked for breaks the pool.
  void reap(std::vector<Worker>& workers) {
    for (auto it = workers.begin(); it != workers.end();) {
      Worker& w = *it;
      if (!w.results_closed) {
        ++it;
        continue;
      }
      std::optional<int> status = exit_status(w);
      if (!status) {
        // Closed its pipe but lives on: it cannot work without it.
        if (std::chrono::steady_clock::now() - w.closed_at >
            std::chrono::seconds(5)) {
          send_signal(w, SIGKILL);
        }
        ++it;
        continue;
      }
      // It may exit cleanly after its quota of calls, or once the queue of
      // calls is closed; anything else breaks the pool.
      const bool expected = WIFEXITED(*status) && WEXITSTATUS(*status) == 0 &&
                            w.ready && (quota_done(w) || !calls_.write);
      if (!expected && broken_now().empty()) {
        std::string message =
            "A process in the process pool was terminated abruptly while the "
            "future was running or pending: worker " +
            std::to_string(w.process.pid) + " " + describe_exit(*status);
        if (!w.ready && method_ == StartMethod::spawn) {
          message += " before it was ready. With StartMethod::spawn the "
                     "program must call cf::worker_main(argc, argv) as the "
                     "first line of main()";
        }
        break_pool(workers, message);
      }
      it = workers.erase(it);
      wake(); // a replacement may be needed
    }
  }

  std::optional<int> exit_status(const Worker& w) {
    if (method_ == StartMethod::forkserver) {
      for (auto it = exits_.begin(); it != exits_.end(); ++it) {
        if (it->pid == w.process.pid) {
          const int status = it->status;
          exits_.erase(it);
          return status;
        }
      }
      if (!server_) { // the server died: nobody will tell
        return W_EXITCODE(0, SIGKILL);
      }
      return std::nullopt;
    }
    int status = 0;
    const pid_t pid = ::waitpid(w.process.pid, &status, WNOHANG);
    if (pid == w.process.pid) {
      return status;
    }
    return std::nullopt;
  }

  std::string broken_now() {
    std::lock_guard lock(mutex_);
    return broken_;
  }

  // CPython's "terminate_broken": every pending and running call fails with
  // BrokenProcessPool(reason); the remaining workers are killed.
  void break_pool(std::vector<Worker>& workers, const std::string& reason) {
    std::deque<Job> pending;
    {
      std::lock_guard lock(mutex_);
      if (broken_.empty()) {
        broken_ = reason;
      }
      pending.swap(pending_);
    }
    const auto error = std::make_exception_ptr(BrokenProcessPool(reason));
    for (Job& job : pending) {
      fail(job.task, error);
    }
    fail_in_flight(error);
    calls_writer_ = {};
    close_calls();
    for (Worker& w : workers) {
      w.setup = {};
      if (!w.results_closed) {
        send_signal(w, SIGKILL);
      }
    }
  }

  const int max_workers_;
  const StartMethod method_;
  const std::optional<Call> initializer_;
  const int max_tasks_per_child_;

  detail::Fd wake_read_;
  detail::Fd wake_write_;

  // The manager thread's alone.
  std::optional<detail::ForkServer> server_;
  std::vector<detail::ForkServer::Report> exits_;
  detail::CallPipe calls_;              // closed for writing: no more calls
  std::deque<Unsent> unsent_;           // running, not yet in the ring
  detail::FrameWriter calls_writer_;    // calls not yet in the pipe
  std::vector<InFlight> in_flight_;     // handed to the workers, in order
  std::vector<std::string> sent_calls_; // buffers of calls in the ring
  CallPace pace_;

  std::mutex mutex_;        // guards what follows
  std::deque<Job> pending_; // submitted, not yet handed to a worker
  std::vector<std::string> spare_calls_; // see pop_spare_call()
  std::size_t spare_bytes_ = 0;          // their capacity
  bool shutdown_ = false;
  std::string broken_; // why the pool is broken; empty while it is not
  int signal_request_ = 0;
  bool manager_waiting_ = false;   // may be blocked in poll(): wake it
  std::atomic<bool> woken_{false}; // wake() called: for the manager's spin
  // The manager is started through a pointer that only the constructors
  // set: GCC compiles every virtual function of every class it sees (for
  // devirtualisation) and all they call, so a direct call here made each
  // file that includes this header compile the whole manager even if it
  // never makes a pool (0.3 s of 3.2 s for the compile-time probe).
  void (*start_manager_)(ProcessPoolExecutor*) = [](ProcessPoolExecutor* self) {
    self->manage();
  };
  std::jthread manager_;
  std::mutex join_mutex_;
};

} // namespace concurrent::futures
