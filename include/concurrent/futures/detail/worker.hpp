#pragma once
// A worker process's side of the process pool: take a call, run it, send
// back its result, until the pool closes the ring of calls. Runs in a fresh
// process (forked or spawned); it touches nothing of the pool's parent-side
// state.
//
// First frame from the pool, on the worker's own pipe: the setup (an
// optional initializer call, and how many tasks to run before exiting, 0 for
// no limit). Then calls, [id, encoded call], from the ring every worker of
// the pool shares (a large one from the pipe they share). Replies, on the
// worker's own pipe: `ready` once initialised (or `init_failed` with an
// exception record); then one `result` per call, [id, ok, bytes or
// exception record], in the worker's own reply ring when it fits there.

#include <concurrent/futures/detail/pipe_channel.hpp>
#include <concurrent/futures/detail/shared_ring.hpp>
#include <concurrent/futures/detail/spin.hpp>
#include <concurrent/futures/detail/wire.hpp>
#include <concurrent/futures/serialization.hpp>

#include <array>
#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <optional>
#include <string>
#include <string_view>

#include <unistd.h>

namespace concurrent::futures::detail {

// A reply's head: [kind, id, ok]; its body (result bytes or exception
// record) follows in the same frame.
inline std::string reply_head(Message kind, std::uint64_t id, bool ok) {
  OutputArchive out;
  out(kind);
  out.write_size(id);
  out(ok);
  return std::move(out).bytes();
}

/// The descriptors of a worker, in the order a spawned worker finds them
/// (from 3). `calls`, the token pipe and `call_ring` are shared by every
/// worker of the pool; `setup`, `results` and `replies` are the worker's own.
struct WorkerFds {
  int setup;     // the pool's one setup frame to this worker
  int calls;     // calls too large for the ring, for whoever takes their note
  int token_in;  // the read lock on `calls`: one byte, held by one worker
  int token_out; // where the holder puts the byte back
  int results;   // replies to the pool that do not fit `replies`; wake-ups
  int call_ring; // every call (or a note that it is in `calls`)
  int replies;   // results to the pool, in shared memory

  [[nodiscard]] std::array<int, 7> all() const noexcept {
    return {setup, calls, token_in, token_out, results, call_ring, replies};
  }
};

/// Blocking: reads exactly `size` bytes; false at end of file or on error.
inline bool read_exactly(int fd, void* into, std::size_t size) noexcept {
  auto* at = static_cast<char*>(into);
  while (size > 0) {
    const ssize_t n = ::read(fd, at, size);
    if (n < 0 && errno == EINTR) {
      continue;
    }
    if (n <= 0) {
      return false;
    }
    at += n;
    size -= static_cast<std::size_t>(n);
  }
  return true;
}

/// Reads a call that was too large for the ring from the pipe all workers
/// share. Only the worker that holds the token reads, and it reads exactly
/// one frame, so calls are taken whole (Python's call queue and its read
/// lock). False at the end of the pipe.
inline bool read_piped_call(const WorkerFds& fds, std::string& frame) {
  char token = 0;
  if (!read_exactly(fds.token_in, &token, 1)) {
    ::_exit(4); // the pool holds the other end: this cannot happen
  }
  const auto give_back = [&] {
    while (::write(fds.token_out, &token, 1) < 0 && errno == EINTR) {
    }
  };
  FrameHeader size = 0;
  if (!read_exactly(fds.calls, &size, sizeof size)) {
    give_back(); // end of file: the others must see it too
    return false;
  }
  if (size > max_frame_size) {
    ::_exit(4); // unreadable: dying breaks the pool
  }
  frame.assign(size, '\0');
  if (!read_exactly(fds.calls, frame.data(), size)) {
    ::_exit(4); // the pool never closes the pipe inside a frame
  }
  give_back();
  return true;
}

/// Takes the next call into `frame`, in the order the pool wrote them;
/// false once the pool has closed the ring (or the pipe) of calls. A call
/// is often on its way: it looks for one for a moment before sleeping,
/// since a wake-up costs more than a short task.
inline bool take_call(const WorkerFds& fds, CallRing& ring,
                      std::string& frame) {
  switch (ring.take(frame, [](auto&& ready) { return spin_until(ready); })) {
  case CallRing::Take::call:
    return true;
  case CallRing::Take::in_pipe:
    return read_piped_call(fds, frame);
  default:
    return false;
  }
}

/// Sends a reply through shared memory when it fits (waking the pool if it
/// sleeps), else through the pipe. False if the pool has gone.
inline bool send_reply(const WorkerFds& fds, ReplyRing& replies,
                       std::string_view head, std::string_view body) {
  if (!replies.try_push(head, body)) {
    return write_frame(fds.results, head, body);
  }
  return !replies.reader_sleeps() ||
         write_frame(fds.results, reply_head(Message::wakeup, 0, true));
}

/// A worker encodes each result into the last one's buffer up to this size.
inline constexpr std::size_t kept_reply_bytes = std::size_t{1} << 16;

[[noreturn]] inline void worker_loop(const WorkerFds& fds) noexcept {
  try {
    FrameReader reader;
    const std::optional<std::string> setup = reader.next_blocking(fds.setup);
    ::close(fds.setup);
    if (!setup) {
      ::_exit(0);
    }
    InputArchive in(*setup);
    const auto initializer = in.read<std::optional<std::string>>();
    const std::uint64_t max_tasks = in.read_size();
    if (initializer) {
      OutputArchive discarded;
      try {
        run_encoded(*initializer, discarded);
      } catch (...) {
        OutputArchive record;
        encode_exception(record, std::current_exception());
        write_frame(fds.results, reply_head(Message::init_failed, 0, false),
                    record.bytes());
        ::_exit(3);
      }
    }
    std::optional<CallRing> calls = CallRing::open(fds.call_ring);
    std::optional<ReplyRing> replies = ReplyRing::open(fds.replies);
    if (!calls || !replies) {
      ::_exit(4); // not the pool's memory: dying breaks the pool
    }
    if (!write_frame(fds.results, reply_head(Message::ready, 0, true))) {
      ::_exit(0);
    }
    std::string task;
    std::string reply; // the last result's buffer, reused if not too large
    for (std::uint64_t done = 0; max_tasks == 0 || done < max_tasks; ++done) {
      if (!take_call(fds, *calls, task)) {
        ::_exit(0); // the pool closed the ring of calls: shut down
      }
      InputArchive header(task);
      const std::uint64_t id = header.read_size();
      const std::string_view call =
          std::string_view(task).substr(task.size() - header.remaining());
      OutputArchive result(std::move(reply));
      bool ok = true;
      try {
        run_encoded(call, result);
      } catch (...) {
        ok = false;
        result = OutputArchive(std::move(result).bytes());
        encode_exception(result, std::current_exception());
      }
      if (!send_reply(fds, *replies, reply_head(Message::result, id, ok),
                      result.bytes())) {
        ::_exit(0);
      }
      reply = std::move(result).bytes();
      if (reply.capacity() > kept_reply_bytes) {
        reply = std::string(); // a large result's memory goes back at once
      }
    }
    ::_exit(0); // max_tasks_per_child reached: the pool starts a fresh one
  } catch (...) {
    ::_exit(4); // the pool sent something unreadable
  }
}

} // namespace concurrent::futures::detail
