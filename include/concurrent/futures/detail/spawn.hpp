#pragma once
// Starting worker processes: fork, spawn (re-executing this program's own
// binary) and forkserver (forking from a single-threaded server process).
// Every worker gets its own two pipes, its setup in and its results out,
// and its own ring of replies; the ring of calls all workers share, the read
// end of the pipe of calls too large for it and both ends of that pipe's
// token pipe (see `take_call`); and nothing else of the parent's
// descriptors. No worker outlives its parent: each asks the kernel to kill
// it when its parent dies (PR_SET_PDEATHSIG) and exits when the pool closes
// the queue of calls.

#include <concurrent/futures/detail/code_address.hpp>
#include <concurrent/futures/detail/pipe_channel.hpp>
#include <concurrent/futures/detail/shared_ring.hpp>
#include <concurrent/futures/detail/worker.hpp>

#include <algorithm>
#include <array>
#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <spawn.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

extern char** environ;

namespace concurrent::futures::detail {

inline constexpr const char* worker_flag = "--concurrent-futures-worker";
inline constexpr const char* spawned_variable = "CONCURRENT_FUTURES_SPAWNED";

/// What a worker's ring of replies holds: results larger than half of it
/// go through its pipe.
inline constexpr std::size_t reply_ring_bytes = std::size_t{1} << 18;

/// The calls every worker of a pool takes from: the ring, and the pipe of
/// calls too large for it with its token pipe holding the one byte that
/// lets a worker read (its read lock). The pool writes calls; it keeps the
/// other ends for the workers it starts.
struct CallPipe {
  Fd read;
  Fd write;
  Fd token_read;
  Fd token_write;
  CallRing ring;

  static CallPipe make(std::size_t slots, std::size_t slot_bytes) {
    auto [r, w] = make_pipe(worker_pipe_capacity);
    auto [tr, tw] = make_pipe();
    const char token = 1;
    if (::write(tw.get(), &token, 1) != 1) {
      throw_errno("write(token)");
    }
    return {std::move(r), std::move(w), std::move(tr), std::move(tw),
            CallRing::create(slots, slot_bytes)};
  }
};

/// A started worker: its pid and the parent's ends of its own channels.
struct WorkerProcess {
  pid_t pid = -1;
  Fd setup;          // parent writes
  Fd results;        // parent reads
  ReplyRing replies; // parent reads
};

/// A worker's own channels, made before it starts: the child's ends go to
/// the worker (with the pool's shared ones), the parent's stay.
struct WorkerPipes {
  std::pair<Fd, Fd> setup = make_pipe();
  std::pair<Fd, Fd> results = make_pipe(worker_pipe_capacity);
  ReplyRing replies = ReplyRing::create(reply_ring_bytes);

  [[nodiscard]] WorkerFds child(const CallPipe& calls) const noexcept {
    return {setup.first.get(),
            calls.read.get(),
            calls.token_read.get(),
            calls.token_write.get(),
            results.second.get(),
            calls.ring.fd(),
            replies.fd()};
  }
  WorkerProcess parent(pid_t pid) && {
    return {pid, std::move(setup.second), std::move(results.first),
            std::move(replies)};
  }
};

/// In a fresh child: close every descriptor but 0, 1, 2 and `keep`.
inline void close_other_fds(std::span<const int> keep) noexcept {
  std::vector<int> open;
  if (DIR* dir = ::opendir("/proc/self/fd")) {
    while (const dirent* entry = ::readdir(dir)) {
      const int fd = std::atoi(entry->d_name);
      if (fd > 2 && fd != ::dirfd(dir) &&
          std::find(keep.begin(), keep.end(), fd) == keep.end()) {
        open.push_back(fd);
      }
    }
    ::closedir(dir);
  }
  for (int fd : open) {
    ::close(fd);
  }
}

/// In a fresh child of `parent`: die with the parent; default signal
/// handling, nothing blocked.
inline void detach_from_parent_threads(pid_t parent) noexcept {
  ::prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (::getppid() != parent) {
    ::_exit(1); // the parent died before the line above
  }
  sigset_t none;
  sigemptyset(&none);
  ::pthread_sigmask(SIG_SETMASK, &none, nullptr);
  // The parent's handlers (a test framework's, say) are not the worker's.
  for (int sig = 1; sig < NSIG; ++sig) {
    ::signal(sig, SIG_DFL);
  }
}

/// fork(), never while another thread of ours walks the loaded modules
/// (see `module_walk_mutex`). Threads of the program that do so still can
/// leave a child hanging: that is fork's hazard in a threaded process.
/// Buffered output is flushed first, as Python does before forking: a child
/// that flushed its copy (an exit() in a task, a sanitizer's exit) would
/// print it a second time.
inline pid_t fork_between_module_walks() {
  std::fflush(nullptr);
  std::lock_guard lock(module_walk_mutex());
  return ::fork();
}

/// fork: the child is a copy of this process and runs the worker loop.
inline WorkerProcess fork_worker(const CallPipe& calls) {
  WorkerPipes pipes;
  const WorkerFds fds = pipes.child(calls);
  const pid_t parent = ::getpid();
  const pid_t pid = fork_between_module_walks();
  if (pid < 0) {
    throw_errno("fork");
  }
  if (pid == 0) {
    detach_from_parent_threads(parent);
    close_other_fds(fds.all());
    worker_loop(fds);
  }
  return std::move(pipes).parent(pid);
}

/// Where a spawned worker finds its descriptors: 3, 4, ... in `WorkerFds`
/// order.
inline constexpr WorkerFds spawned_fds{3, 4, 5, 6, 7, 8, 9};

/// spawn: posix_spawn of /proc/self/exe with the worker's descriptors as
/// `spawned_fds`; `worker_main` in the new program's main() recognises the
/// arguments.
inline WorkerProcess spawn_worker(const CallPipe& calls) {
  WorkerPipes pipes;
  const auto from = pipes.child(calls).all();
  const auto to = spawned_fds.all();
  // Out of the way of the targets, so that no dup2 below clobbers a source.
  std::array<Fd, std::tuple_size_v<decltype(from)>> high;
  for (std::size_t i = 0; i < from.size(); ++i) {
    high[i] = Fd(::fcntl(from[i], F_DUPFD_CLOEXEC, 10));
    if (!high[i]) {
      throw_errno("fcntl(F_DUPFD_CLOEXEC)");
    }
  }
  posix_spawn_file_actions_t actions;
  posix_spawnattr_t attributes;
  ::posix_spawn_file_actions_init(&actions);
  ::posix_spawnattr_init(&attributes);
  for (std::size_t i = 0; i < from.size(); ++i) {
    ::posix_spawn_file_actions_adddup2(&actions, high[i].get(), to[i]);
  }
#if defined(__GLIBC__) && (__GLIBC__ > 2 || __GLIBC_MINOR__ >= 34)
  ::posix_spawn_file_actions_addclosefrom_np(&actions, to.back() + 1);
#endif
  sigset_t none;
  sigset_t defaults;
  sigemptyset(&none);
  sigemptyset(&defaults);
  sigaddset(&defaults, SIGPIPE);
  ::posix_spawnattr_setsigmask(&attributes, &none);
  ::posix_spawnattr_setsigdefault(&attributes, &defaults);
  ::posix_spawnattr_setflags(&attributes,
                             POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);

  std::string parent = std::to_string(::getpid());
  std::string self = "/proc/self/exe";
  char* argv[] = {self.data(), const_cast<char*>(worker_flag), parent.data(),
                  nullptr};
  std::vector<char*> env;
  for (char** e = environ; *e != nullptr; ++e) {
    env.push_back(*e);
  }
  std::string marker = std::string(spawned_variable) + "=1";
  env.push_back(marker.data());
  env.push_back(nullptr);

  pid_t pid = -1;
  const int rc = ::posix_spawn(&pid, "/proc/self/exe", &actions, &attributes,
                               argv, env.data());
  ::posix_spawn_file_actions_destroy(&actions);
  ::posix_spawnattr_destroy(&attributes);
  if (rc != 0) {
    errno = rc;
    throw_errno("posix_spawn");
  }
  return std::move(pipes).parent(pid);
}

/// The single-threaded process that forks the workers of the forkserver
/// start method, and reports how each one ended (they are its children, not
/// the pool's). Messages on a SOCK_SEQPACKET pair; the pool sends a worker's
/// pipe ends with SCM_RIGHTS.
class ForkServer {
public:
  struct Report {
    enum Kind : int { started = 1, exited = 2 } kind;
    int pid;
    int status;
  };

  ForkServer() {
    int pair[2];
    if (::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, pair) != 0) {
      throw_errno("socketpair");
    }
    Fd mine(pair[0]);
    Fd theirs(pair[1]);
    const pid_t parent = ::getpid();
    pid_ = fork_between_module_walks();
    if (pid_ < 0) {
      throw_errno("fork");
    }
    if (pid_ == 0) {
      detach_from_parent_threads(parent);
      close_other_fds(std::array{theirs.get()});
      serve(theirs.get());
    }
    control_ = std::move(mine);
  }
  ForkServer(const ForkServer&) = delete;
  ForkServer& operator=(const ForkServer&) = delete;
  ~ForkServer() {
    control_.reset(); // the server kills its workers and exits
    int status = 0;
    while (::waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
    }
  }

  [[nodiscard]] int fd() const noexcept { return control_.get(); }
  [[nodiscard]] pid_t pid() const noexcept { return pid_; }

  /// Has the server fork a worker; blocks until it answers. Exit reports
  /// that arrive meanwhile go to `exits`.
  WorkerProcess start_worker(const CallPipe& calls,
                             std::vector<Report>& exits) {
    WorkerPipes pipes;
    const auto fds = pipes.child(calls).all();
    FdMessage message;
    message.request = {'w', 0, 0};
    cmsghdr* c = CMSG_FIRSTHDR(&message.header);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof fds);
    std::memcpy(CMSG_DATA(c), fds.data(), sizeof fds);
    while (::sendmsg(control_.get(), &message.header, MSG_NOSIGNAL) < 0) {
      if (errno != EINTR) {
        throw BrokenProcessPool("the fork server is gone");
      }
    }
    for (;;) {
      const std::optional<Report> report = receive(true);
      if (!report) {
        throw BrokenProcessPool("the fork server is gone");
      }
      if (report->kind == Report::started) {
        if (report->pid < 0) {
          throw BrokenProcessPool("the fork server could not fork a worker");
        }
        return std::move(pipes).parent(report->pid);
      }
      exits.push_back(*report);
    }
  }

  /// Has the server send `signal` to its worker `pid`, if that worker has
  /// not been reaped yet (only the server knows: the pool must not signal a
  /// pid that the server may already have freed for reuse).
  void signal(pid_t pid, int signal) {
    Request request{'k', pid, signal};
    ::send(control_.get(), &request, sizeof request, MSG_NOSIGNAL);
  }

  /// The next report; with `block` false, nothing if none is waiting.
  /// Nothing also when the server is gone.
  std::optional<Report> receive(bool block) {
    Report report{};
    for (;;) {
      const ssize_t n = ::recv(control_.get(), &report, sizeof report,
                               block ? 0 : MSG_DONTWAIT);
      if (n == static_cast<ssize_t>(sizeof report)) {
        return report;
      }
      if (n < 0 && errno == EINTR) {
        continue;
      }
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
        gone_ = false;
      } else {
        gone_ = true;
      }
      return std::nullopt;
    }
  }

  /// Whether the last `receive` found the server gone.
  [[nodiscard]] bool gone() const noexcept { return gone_; }

private:
  struct Request {
    char kind; // 'w': start a worker (with its descriptors); 'k': signal
    int pid;
    int signal;
  };

  // A request with room for a worker's descriptors (SCM_RIGHTS), as one
  // sendmsg or recvmsg sees it. Not movable: `header` points into it.
  struct FdMessage {
    Request request{};
    iovec io{&request, sizeof request};
    static_assert(sizeof(WorkerFds) == sizeof(WorkerFds{}.all()));
    alignas(cmsghdr) char control[CMSG_SPACE(sizeof(WorkerFds))] = {};
    msghdr header{};
    FdMessage() {
      header.msg_iov = &io;
      header.msg_iovlen = 1;
      header.msg_control = control;
      header.msg_controllen = sizeof control;
    }
    FdMessage(const FdMessage&) = delete;
    FdMessage& operator=(const FdMessage&) = delete;
  };

  [[noreturn]] static void serve(int control) noexcept {
    sigset_t chld;
    sigemptyset(&chld);
    sigaddset(&chld, SIGCHLD);
    ::sigprocmask(SIG_BLOCK, &chld, nullptr);
    const int child_exits = ::signalfd(-1, &chld, SFD_CLOEXEC | SFD_NONBLOCK);
    std::vector<pid_t> children;
    const auto send = [&](Report report) {
      ::send(control, &report, sizeof report, MSG_NOSIGNAL);
    };
    for (;;) {
      pollfd fds[2] = {{control, POLLIN, 0}, {child_exits, POLLIN, 0}};
      if (::poll(fds, 2, -1) < 0) {
        continue;
      }
      if (fds[1].revents != 0) {
        signalfd_siginfo info;
        while (::read(child_exits, &info, sizeof info) > 0) {
        }
        int status = 0;
        pid_t pid = 0;
        while ((pid = ::waitpid(-1, &status, WNOHANG)) > 0) {
          std::erase(children, pid);
          send({Report::exited, pid, status});
        }
      }
      if (fds[0].revents == 0) {
        continue;
      }
      FdMessage message;
      const Request& request = message.request;
      const ssize_t n = ::recvmsg(control, &message.header, MSG_CMSG_CLOEXEC);
      if (n <= 0) { // the pool is gone: so are its workers
        for (pid_t child : children) {
          ::kill(child, SIGKILL);
        }
        while (::waitpid(-1, nullptr, 0) > 0) {
        }
        ::_exit(0);
      }
      if (request.kind == 'k') {
        if (std::find(children.begin(), children.end(), request.pid) !=
            children.end()) {
          ::kill(request.pid, request.signal);
        }
        continue;
      }
      std::array<int, sizeof(WorkerFds) / sizeof(int)> received{};
      const cmsghdr* c = CMSG_FIRSTHDR(&message.header);
      if (c == nullptr || c->cmsg_type != SCM_RIGHTS ||
          c->cmsg_len != CMSG_LEN(sizeof received)) {
        send({Report::started, -1, 0});
        continue;
      }
      std::memcpy(received.data(), CMSG_DATA(c), sizeof received);
      const WorkerFds worker{received[0], received[1], received[2], received[3],
                             received[4], received[5], received[6]};
      const pid_t server = ::getpid();
      const pid_t pid = ::fork();
      if (pid == 0) {
        ::close(control);
        ::close(child_exits);
        detach_from_parent_threads(server);
        close_other_fds(worker.all());
        worker_loop(worker);
      }
      for (int fd : received) {
        ::close(fd);
      }
      if (pid > 0) {
        children.push_back(pid);
      }
      send({Report::started, pid, 0});
    }
  }

  pid_t pid_ = -1;
  Fd control_;
  bool gone_ = false;
};

} // namespace concurrent::futures::detail
