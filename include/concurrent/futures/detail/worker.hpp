#pragma once
// A worker process's side of the process pool: read a task, run it, send
// back its result, until the pool closes the pipe. Runs in a fresh process
// (forked or spawned); it touches nothing of the pool's parent-side state.
//
// First frame from the pool: the setup (an optional initializer call, and
// how many tasks to run before exiting, 0 for no limit). Then task frames:
// [id, encoded call]. Replies: `ready` once initialised (or `init_failed`
// with an exception record), then one `result` per task: [id, ok, bytes or
// exception record].

#include <concurrent/futures/detail/pipe_channel.hpp>
#include <concurrent/futures/detail/spin.hpp>
#include <concurrent/futures/detail/wire.hpp>
#include <concurrent/futures/serialization.hpp>

#include <cstdint>
#include <exception>
#include <optional>
#include <string>

#include <poll.h>
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

// The next frame from the pool. The pool often sends the next task while
// this one runs, or right after its answer: look for it for a moment
// before blocking, since a wake-up costs more than a short task.
inline std::optional<std::string> next_frame(FrameReader& reader, int fd) {
  if (!reader.has_frame()) {
    spin_until([fd] {
      pollfd p{fd, POLLIN, 0};
      return ::poll(&p, 1, 0) != 0;
    });
  }
  return reader.next_blocking(fd);
}

[[noreturn]] inline void worker_loop(int from_pool, int to_pool) noexcept {
  try {
    FrameReader reader;
    const std::optional<std::string> setup = reader.next_blocking(from_pool);
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
        write_frame(to_pool, reply_head(Message::init_failed, 0, false),
                    record.bytes());
        ::_exit(3);
      }
    }
    if (!write_frame(to_pool, reply_head(Message::ready, 0, true))) {
      ::_exit(0);
    }
    for (std::uint64_t done = 0; max_tasks == 0 || done < max_tasks; ++done) {
      const std::optional<std::string> task = next_frame(reader, from_pool);
      if (!task) {
        ::_exit(0); // the pool closed the pipe: shut down
      }
      InputArchive header(*task);
      const std::uint64_t id = header.read_size();
      const std::string_view call =
          std::string_view(*task).substr(task->size() - header.remaining());
      OutputArchive result;
      bool ok = true;
      try {
        run_encoded(call, result);
      } catch (...) {
        ok = false;
        result = OutputArchive();
        encode_exception(result, std::current_exception());
      }
      if (!write_frame(to_pool, reply_head(Message::result, id, ok),
                       result.bytes())) {
        ::_exit(0);
      }
    }
    ::_exit(0); // max_tasks_per_child reached: the pool starts a fresh one
  } catch (...) {
    ::_exit(4); // the pool sent something unreadable
  }
}

} // namespace concurrent::futures::detail
