#pragma once
// Length-prefixed frames over pipes. Workers read and write blocking; the
// pool's manager thread uses FrameReader/FrameWriter on non-blocking pipes,
// so that one slow or huge transfer never stops the others (a 64 MiB
// argument going out while a 64 MiB result comes in cannot deadlock).

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <deque>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>

#include <fcntl.h>
#include <sys/uio.h>
#include <unistd.h>

namespace concurrent::futures::detail {

/// An owned file descriptor.
class Fd {
public:
  Fd() = default;
  explicit Fd(int fd) noexcept : fd_(fd) {}
  Fd(Fd&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}
  Fd& operator=(Fd&& other) noexcept {
    if (this != &other) {
      reset();
      fd_ = std::exchange(other.fd_, -1);
    }
    return *this;
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  ~Fd() { reset(); }

  [[nodiscard]] int get() const noexcept { return fd_; }
  [[nodiscard]] explicit operator bool() const noexcept { return fd_ >= 0; }
  int release() noexcept { return std::exchange(fd_, -1); }
  void reset() noexcept {
    if (fd_ >= 0) {
      ::close(fd_);
      fd_ = -1;
    }
  }

private:
  int fd_ = -1;
};

[[noreturn]] inline void throw_errno(const char* what) {
  throw std::system_error(errno, std::generic_category(), what);
}

/// What a pipe to or from a worker can hold. Linux's default, 64 KiB, makes
/// a large argument or a chunk of results cross in many small steps, each a
/// switch between writer and reader; 1 MiB is the most an unprivileged
/// process may ask for by default (/proc/sys/fs/pipe-max-size).
inline constexpr int worker_pipe_capacity = 1 << 20;

/// A pipe whose ends are closed on exec: {read end, write end}. With
/// `capacity`, asks for that much room (best effort: past the user's pipe
/// quota the kernel's default stays).
inline std::pair<Fd, Fd> make_pipe(int capacity = 0) {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) {
    throw_errno("pipe2");
  }
#if defined(F_SETPIPE_SZ)
  if (capacity > 0) {
    (void)::fcntl(fds[1], F_SETPIPE_SZ, capacity);
  }
#else
  (void)capacity;
#endif
  return {Fd(fds[0]), Fd(fds[1])};
}

inline void set_nonblocking(int fd) {
  const int flags = ::fcntl(fd, F_GETFL);
  if (flags < 0 || ::fcntl(fd, F_SETFL, flags | O_NONBLOCK) != 0) {
    throw_errno("fcntl(O_NONBLOCK)");
  }
}

using FrameHeader = std::uint64_t;

/// Frames larger than this are refused as corrupt.
inline constexpr std::uint64_t max_frame_size = std::uint64_t{1} << 36;

/// Blocking: writes one whole frame whose payload is `head` then `body`
/// (two parts, so that a large body is not copied to put a head before it).
/// False if the reader has gone.
inline bool write_frame(int fd, std::string_view head,
                        std::string_view body = {}) noexcept {
  const FrameHeader size = head.size() + body.size();
  iovec parts[3] = {{const_cast<FrameHeader*>(&size), sizeof size},
                    {const_cast<char*>(head.data()), head.size()},
                    {const_cast<char*>(body.data()), body.size()}};
  std::size_t done = 0;
  const std::size_t total = sizeof size + size;
  while (done < total) {
    iovec rest[3];
    int count = 0;
    std::size_t skip = done;
    for (const iovec& part : parts) {
      if (skip >= part.iov_len) {
        skip -= part.iov_len;
        continue;
      }
      rest[count++] = {static_cast<char*>(part.iov_base) + skip,
                       part.iov_len - skip};
      skip = 0;
    }
    const ssize_t n = ::writev(fd, rest, count);
    if (n < 0) {
      if (errno == EINTR) {
        continue;
      }
      return false;
    }
    done += static_cast<std::size_t>(n);
  }
  return true;
}

/// Collects frames from a pipe as bytes arrive.
class FrameReader {
public:
  enum class Status { open, closed };

  /// Non-blocking pipe: reads what is available; `closed` at end of file
  /// (or a read error), and after a corrupt header: nothing after it can be
  /// framed, so nothing after it is read.
  Status fill(int fd) {
    while (!corrupt_) {
      if (const ssize_t n = read_once(fd); n <= 0) {
        return status_from(n);
      }
    }
    return Status::closed;
  }

  /// Blocking pipe: waits for the next complete frame; nothing at end of
  /// file, on a read error or on a corrupt header. Frames that arrive
  /// together are read with one call.
  std::optional<std::string> next_blocking(int fd) {
    while (frames_.empty()) {
      const ssize_t n = read_once(fd);
      if (n < 0 && errno == EINTR) {
        continue;
      }
      if (n <= 0 || corrupt_) {
        return std::nullopt;
      }
    }
    return next();
  }

  /// The next complete frame, if any.
  std::optional<std::string> next() {
    if (frames_.empty()) {
      return std::nullopt;
    }
    std::string frame = std::move(frames_.front());
    frames_.pop_front();
    return frame;
  }

  /// Whether a complete frame is waiting.
  [[nodiscard]] bool has_frame() const noexcept { return !frames_.empty(); }

  /// A frame header announced more than `max_frame_size`.
  [[nodiscard]] bool corrupt() const noexcept { return corrupt_; }

private:
  // One read(): into a large frame's own buffer while one is being filled,
  // else whatever fits the chunk, cut into frames.
  ssize_t read_once(int fd) {
    if (wanted_ > 0) { // reading a large payload: straight into place
      const ssize_t n = ::read(fd, buffer_.data() + have_, wanted_);
      account(n);
      return n;
    }
    char chunk[64 * 1024];
    const ssize_t n = ::read(fd, chunk, sizeof chunk);
    if (n > 0 && !corrupt_) {
      pending_.append(chunk, static_cast<std::size_t>(n));
      split();
    }
    return n;
  }

  static Status status_from(ssize_t n) {
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) {
      return Status::open;
    }
    return Status::closed;
  }

  void account(ssize_t n) {
    if (n <= 0) {
      return;
    }
    have_ += static_cast<std::size_t>(n);
    wanted_ -= static_cast<std::size_t>(n);
    if (wanted_ == 0) {
      frames_.push_back(std::move(buffer_));
      buffer_.clear();
      have_ = 0;
    }
  }

  // Cuts complete frames out of `pending_`; a frame larger than what is
  // buffered gets its own buffer, filled by direct reads.
  void split() {
    std::size_t at = 0;
    while (pending_.size() - at >= sizeof(FrameHeader)) {
      FrameHeader size = 0;
      std::memcpy(&size, pending_.data() + at, sizeof size);
      if (size > max_frame_size) {
        corrupt_ = true;
        pending_.clear();
        return;
      }
      const std::size_t available = pending_.size() - at - sizeof size;
      if (available >= size) {
        frames_.emplace_back(pending_, at + sizeof size, size);
        at += sizeof size + size;
        continue;
      }
      buffer_.assign(size, '\0');
      std::memcpy(buffer_.data(), pending_.data() + at + sizeof size,
                  available);
      have_ = available;
      wanted_ = size - available;
      at = pending_.size();
      break;
    }
    pending_.erase(0, at);
  }

  std::string pending_; // bytes not yet cut into frames
  std::string buffer_;  // a large frame being filled
  std::size_t have_ = 0;
  std::size_t wanted_ = 0;
  std::deque<std::string> frames_;
  bool corrupt_ = false;
};

/// Queues frames for a non-blocking pipe and writes as much as it takes.
class FrameWriter {
public:
  /// Queues one frame whose payload is `head` then `body` (two parts, so a
  /// large body is not copied to prepend a small head).
  void push(std::string head, std::string body = {}) {
    const FrameHeader size = head.size() + body.size();
    head.insert(0, reinterpret_cast<const char*>(&size), sizeof size);
    queue_.push_back(std::move(head));
    if (!body.empty()) {
      queue_.push_back(std::move(body));
    }
  }

  [[nodiscard]] bool empty() const noexcept { return queue_.empty(); }

  /// Writes until done or the pipe is full; false if the reader has gone.
  /// Queued frames go out together, many per system call.
  bool flush(int fd) {
    while (!queue_.empty()) {
      iovec parts[64];
      int count = 0;
      for (auto it = queue_.begin(); it != queue_.end() && count < 64; ++it) {
        const std::size_t skip = count == 0 ? offset_ : 0;
        parts[count++] = {it->data() + skip, it->size() - skip};
      }
      ssize_t n = ::writev(fd, parts, count);
      if (n < 0) {
        if (errno == EINTR) {
          continue;
        }
        return errno == EAGAIN || errno == EWOULDBLOCK;
      }
      while (n > 0) {
        const std::size_t left = queue_.front().size() - offset_;
        if (static_cast<std::size_t>(n) < left) {
          offset_ += static_cast<std::size_t>(n);
          break;
        }
        n -= static_cast<ssize_t>(left);
        queue_.pop_front();
        offset_ = 0;
      }
    }
    return true;
  }

private:
  std::deque<std::string> queue_;
  std::size_t offset_ = 0;
};

} // namespace concurrent::futures::detail
