#pragma once
// Calls and results in memory shared with the workers. Through pipes, a
// call and its result cost about ten system calls and four copies between
// the pool's manager and a worker, and the manager's share of them was the
// process pool's limit on small calls (W3). Here a call is one copy into a
// slot and one atomic step to take it, a result one copy into a ring the
// manager reads in place; a side sleeps on a futex (calls) or in poll
// (results) only when there is nothing to do, and is woken only then.
// Calls and results that do not fit go through the pipes as before.
//
// The memory is a memfd, passed to workers like a pipe (inherited, or sent
// to a spawned or fork-server worker), so all three start methods map it.
// Everything shared is a lock-free atomic or bytes published by one; nothing
// in it is trusted further than sizes checked before use.

#include <concurrent/futures/detail/pipe_channel.hpp>

#include <algorithm>
#include <atomic>
#include <bit>
#include <climits>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <exception>
#include <new>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include <linux/futex.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

namespace concurrent::futures::detail {

static_assert(std::atomic<std::uint64_t>::is_always_lock_free &&
                  std::atomic<std::uint32_t>::is_always_lock_free,
              "shared-memory channels need address-free atomics");

/// Sleeps while `*word == expected` (or until woken); across processes.
inline void futex_wait(std::atomic<std::uint32_t>& word,
                       std::uint32_t expected) noexcept {
  ::syscall(SYS_futex, reinterpret_cast<std::uint32_t*>(&word), FUTEX_WAIT,
            expected, nullptr, nullptr, 0);
}

/// Wakes up to `count` sleepers of `futex_wait(word, ...)`.
inline void futex_wake(std::atomic<std::uint32_t>& word, int count) noexcept {
  ::syscall(SYS_futex, reinterpret_cast<std::uint32_t*>(&word), FUTEX_WAKE,
            count, nullptr, nullptr, 0);
}

/// A memfd mapped shared: made by the pool, mapped again by each worker.
class SharedMemory {
public:
  SharedMemory() = default;
  /// New zeroed memory of `size` bytes, with a descriptor for workers.
  static SharedMemory create(const char* name, std::size_t size) {
    Fd fd(::memfd_create(name, MFD_CLOEXEC));
    if (!fd) {
      throw_errno("memfd_create");
    }
    if (::ftruncate(fd.get(), static_cast<off_t>(size)) != 0) {
      throw_errno("ftruncate(memfd)");
    }
    return SharedMemory(std::move(fd), size);
  }
  /// The memory behind `fd`, all of it; nothing if it cannot be mapped or
  /// is smaller than `at_least`. Closes `fd`: a worker needs the mapping,
  /// not the descriptor.
  static std::optional<SharedMemory> open(int fd,
                                          std::size_t at_least) noexcept {
    struct stat info {};
    Fd owned(fd);
    if (::fstat(fd, &info) != 0 || info.st_size <= 0 ||
        static_cast<std::size_t>(info.st_size) < at_least) {
      return std::nullopt;
    }
    try {
      SharedMemory memory(std::move(owned),
                          static_cast<std::size_t>(info.st_size));
      memory.fd_.reset();
      return memory;
    } catch (const std::exception&) {
      return std::nullopt;
    }
  }
  SharedMemory(SharedMemory&& other) noexcept
      : fd_(std::move(other.fd_)), data_(std::exchange(other.data_, nullptr)),
        size_(std::exchange(other.size_, 0)) {}
  SharedMemory& operator=(SharedMemory&& other) noexcept {
    if (this != &other) {
      unmap();
      fd_ = std::move(other.fd_);
      data_ = std::exchange(other.data_, nullptr);
      size_ = std::exchange(other.size_, 0);
    }
    return *this;
  }
  ~SharedMemory() { unmap(); }

  [[nodiscard]] int fd() const noexcept { return fd_.get(); }
  [[nodiscard]] std::byte* data() const noexcept { return data_; }
  [[nodiscard]] std::size_t size() const noexcept { return size_; }

private:
  SharedMemory(Fd fd, std::size_t size) : fd_(std::move(fd)), size_(size) {
    void* at =
        ::mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd_.get(), 0);
    if (at == MAP_FAILED) {
      throw_errno("mmap(memfd)");
    }
    data_ = static_cast<std::byte*>(at);
  }
  void unmap() noexcept {
    if (data_ != nullptr) {
      ::munmap(data_, size_);
      data_ = nullptr;
    }
  }

  Fd fd_;
  std::byte* data_ = nullptr;
  std::size_t size_ = 0;
};

inline constexpr std::size_t cache_line = 64;

/// Calls from the pool to all its workers, in order: a bounded queue of
/// fixed-size slots (D. Vyukov's), one writer (the manager), many takers.
/// A call too large for a slot leaves a slot that says "in the pipe", and
/// the worker that takes it reads the next frame from the pipe of calls.
class CallRing {
public:
  CallRing() = default;

  /// `slots` (rounded up to a power of two) of `slot_bytes` each.
  static CallRing create(std::size_t slots, std::size_t slot_bytes) {
    slots = std::bit_ceil(std::max<std::size_t>(slots, 2));
    slot_bytes = (slot_bytes + cache_line - 1) / cache_line * cache_line;
    CallRing ring(SharedMemory::create(
        "cf-calls", sizeof(Header) + slots * stride(slot_bytes)));
    ::new (ring.memory_.data()) Header{slots, slot_bytes, {}, {}, {}, {}};
    ring.attach();
    for (std::size_t i = 0; i < slots; ++i) {
      ::new (ring.slot_address(i)) Slot{{i}, 0};
    }
    return ring;
  }

  /// A worker's view of the ring behind `fd`; nothing if it is not one.
  static std::optional<CallRing> open(int fd) noexcept {
    std::optional<SharedMemory> memory = SharedMemory::open(fd, sizeof(Header));
    if (!memory) {
      return std::nullopt;
    }
    CallRing ring(std::move(*memory));
    const Header& h = ring.header();
    if (h.slots == 0 || !std::has_single_bit(h.slots) ||
        ring.memory_.size() < sizeof(Header) + h.slots * stride(h.slot_bytes)) {
      return std::nullopt;
    }
    ring.attach();
    return ring;
  }

  [[nodiscard]] int fd() const noexcept { return memory_.fd(); }
  [[nodiscard]] std::size_t slots() const noexcept { return slots_; }

  // ---- the pool's side (one thread)

  /// Whether a call of `size` bytes goes in a slot (else in the pipe).
  [[nodiscard]] bool fits(std::size_t size) const noexcept {
    return size <= slot_bytes_;
  }
  /// Whether the next slot is free. A worker frees a slot as it takes the
  /// call, so with fewer calls out than slots this fails only while a
  /// worker that took the call a lap ago has not finished copying it.
  [[nodiscard]] bool has_room() const noexcept {
    return slot(written_).sequence.load(std::memory_order_acquire) == written_;
  }
  /// Puts `head` + `body` in the next slot (`has_room()`), or, when they do
  /// not fit, a note that the call is in the pipe. A spinning taker sees it
  /// at once; a sleeping one after `publish()`.
  void push(std::string_view head, std::string_view body) noexcept {
    Slot& s = slot(written_);
    const std::size_t size = head.size() + body.size();
    if (fits(size)) {
      std::memcpy(s.bytes(), head.data(), head.size());
      std::memcpy(s.bytes() + head.size(), body.data(), body.size());
      s.size = size;
    } else {
      s.size = in_pipe;
    }
    ++written_;
    s.sequence.store(written_, std::memory_order_release);
    ++unannounced_;
  }
  /// Wakes workers that sleep for calls pushed since the last call.
  void publish() noexcept {
    if (std::exchange(unannounced_, 0) == 0) {
      return;
    }
    Header& h = header();
    h.posted.fetch_add(1, std::memory_order_seq_cst);
    if (h.sleepers.load(std::memory_order_seq_cst) != 0) {
      futex_wake(h.posted, INT_MAX);
    }
  }
  /// No more calls: takers finish what is there, then see the end.
  void close() noexcept {
    Header& h = header();
    h.closed.store(1, std::memory_order_seq_cst);
    ++unannounced_;
    publish();
  }
  /// Whether every call pushed has been taken.
  [[nodiscard]] bool all_taken() const noexcept {
    return header().taken.load(std::memory_order_acquire) == written_;
  }

  // ---- a worker's side

  enum class Take { call, in_pipe, empty, closed };

  /// Takes the next call into `frame` without waiting.
  Take try_take(std::string& frame) noexcept {
    Header& h = header();
    std::uint64_t at = h.taken.load(std::memory_order_relaxed);
    for (;;) {
      Slot& s = slot(at);
      const std::uint64_t sequence = s.sequence.load(std::memory_order_acquire);
      const auto ahead = static_cast<std::int64_t>(sequence - (at + 1));
      if (ahead < 0) { // not written yet
        if (h.closed.load(std::memory_order_acquire) == 0) {
          return Take::empty;
        }
        // Closed after its last push: look once more at what is there now.
        if (const std::uint64_t now = h.taken.load(std::memory_order_relaxed);
            now != at) {
          at = now;
          continue;
        }
        if (s.sequence.load(std::memory_order_acquire) == at + 1) {
          continue;
        }
        return Take::closed;
      }
      if (ahead > 0) { // another worker took it: look again
        at = h.taken.load(std::memory_order_relaxed);
        continue;
      }
      if (!h.taken.compare_exchange_weak(at, at + 1,
                                         std::memory_order_relaxed)) {
        continue;
      }
      const std::uint64_t size = s.size;
      Take took = Take::in_pipe;
      if (size != in_pipe) {
        if (size > slot_bytes_) {
          ::_exit(4); // unreadable: dying breaks the pool
        }
        frame.assign(reinterpret_cast<const char*>(s.bytes()), size);
        took = Take::call;
      }
      s.sequence.store(at + slots_, std::memory_order_release);
      return took;
    }
  }

  /// Takes the next call, sleeping while there is none.
  template <class Spin> Take take(std::string& frame, Spin&& spin) noexcept {
    Header& h = header();
    for (;;) {
      if (const Take took = try_take(frame); took != Take::empty) {
        return took;
      }
      if (spin([&] { return has_call(); })) {
        continue;
      }
      h.sleepers.fetch_add(1, std::memory_order_seq_cst);
      const std::uint32_t seen = h.posted.load(std::memory_order_seq_cst);
      if (!has_call() && h.closed.load(std::memory_order_seq_cst) == 0) {
        futex_wait(h.posted, seen);
      }
      h.sleepers.fetch_sub(1, std::memory_order_seq_cst);
    }
  }

private:
  static constexpr std::uint64_t in_pipe = ~std::uint64_t{0};

  struct Header {
    std::uint64_t slots;
    std::uint64_t slot_bytes;
    alignas(cache_line) std::atomic<std::uint64_t> taken;
    alignas(cache_line) std::atomic<std::uint32_t> posted; // futex word
    std::atomic<std::uint32_t> sleepers;
    std::atomic<std::uint32_t> closed;
  };
  struct alignas(cache_line) Slot {
    std::atomic<std::uint64_t> sequence;
    std::uint64_t size;
    [[nodiscard]] std::byte* bytes() noexcept {
      return reinterpret_cast<std::byte*>(this) + sizeof(Slot);
    }
  };
  static constexpr std::size_t stride(std::size_t slot_bytes) noexcept {
    return sizeof(Slot) + slot_bytes;
  }

  explicit CallRing(SharedMemory memory) : memory_(std::move(memory)) {}

  void attach() noexcept {
    slots_ = header().slots;
    slot_bytes_ = header().slot_bytes;
  }
  [[nodiscard]] Header& header() const noexcept {
    return *std::launder(reinterpret_cast<Header*>(memory_.data()));
  }
  [[nodiscard]] std::byte* slot_address(std::uint64_t at) const noexcept {
    return memory_.data() + sizeof(Header) +
           (at & (slots_ - 1)) * stride(slot_bytes_);
  }
  [[nodiscard]] Slot& slot(std::uint64_t at) const noexcept {
    return *std::launder(reinterpret_cast<Slot*>(slot_address(at)));
  }
  [[nodiscard]] bool has_call() const noexcept {
    const Header& h = header();
    const std::uint64_t at = h.taken.load(std::memory_order_relaxed);
    return slot(at).sequence.load(std::memory_order_acquire) == at + 1 ||
           h.closed.load(std::memory_order_acquire) != 0;
  }

  SharedMemory memory_;
  std::uint64_t slots_ = 0;
  std::uint64_t slot_bytes_ = 0;
  std::uint64_t written_ = 0;     // the pool's: calls pushed
  std::uint32_t unannounced_ = 0; // the pool's: pushed since publish()
};

/// Results from one worker to the pool: a ring of bytes with one writer
/// and one reader. Records are [size][bytes], 8-byte aligned; one that
/// would cross the end starts again at the beginning after a skip mark.
class ReplyRing {
public:
  ReplyRing() = default;

  static ReplyRing create(std::size_t capacity) {
    capacity = std::bit_ceil(capacity);
    ReplyRing ring(
        SharedMemory::create("cf-results", sizeof(Header) + capacity));
    ::new (ring.memory_.data()) Header{capacity, {}, {}, {}};
    ring.capacity_ = capacity;
    return ring;
  }
  static std::optional<ReplyRing> open(int fd) noexcept {
    std::optional<SharedMemory> memory = SharedMemory::open(fd, sizeof(Header));
    if (!memory) {
      return std::nullopt;
    }
    ReplyRing ring(std::move(*memory));
    const std::uint64_t capacity = ring.header().capacity;
    if (capacity < 16 || !std::has_single_bit(capacity) ||
        ring.memory_.size() < sizeof(Header) + capacity) {
      return std::nullopt;
    }
    ring.capacity_ = capacity;
    return ring;
  }

  [[nodiscard]] int fd() const noexcept { return memory_.fd(); }

  // ---- the worker's side

  /// Appends one record of `head` + `body`; false if there is no room now
  /// (the caller sends it another way).
  bool try_push(std::string_view head, std::string_view body) noexcept {
    Header& h = header();
    const std::uint64_t size = head.size() + body.size();
    const std::uint64_t need = record_size(size);
    const std::uint64_t written = h.written.load(std::memory_order_relaxed);
    const std::uint64_t offset = written & (capacity_ - 1);
    const std::uint64_t skip =
        offset + need > capacity_ ? capacity_ - offset : 0;
    if (need > capacity_ / 2 ||
        skip + need >
            capacity_ - (written - h.read.load(std::memory_order_acquire))) {
      return false;
    }
    if (skip != 0) {
      std::memcpy(at(offset), &skip_mark, sizeof skip_mark);
    }
    std::byte* record = at((written + skip) & (capacity_ - 1));
    std::memcpy(record, &size, sizeof size);
    std::memcpy(record + sizeof size, head.data(), head.size());
    std::memcpy(record + sizeof size + head.size(), body.data(), body.size());
    h.written.store(written + skip + need, std::memory_order_seq_cst);
    return true;
  }

  /// Whether the reader sleeps and must be woken (after a `try_push`).
  [[nodiscard]] bool reader_sleeps() const noexcept {
    return header().reader_sleeping.load(std::memory_order_seq_cst) != 0;
  }

  // ---- the pool's side

  /// Whether a record is waiting.
  [[nodiscard]] bool has_record() const noexcept {
    const Header& h = header();
    return h.written.load(std::memory_order_acquire) !=
           h.read.load(std::memory_order_relaxed);
  }

  /// Hands each waiting record to `handle(std::string_view)`, in place;
  /// false if the ring holds something no writer of ours would write.
  template <class Handle> bool drain(Handle&& handle) {
    Header& h = header();
    std::uint64_t read = h.read.load(std::memory_order_relaxed);
    const std::uint64_t written = h.written.load(std::memory_order_acquire);
    while (read != written) {
      const std::uint64_t offset = read & (capacity_ - 1);
      std::uint64_t size = 0;
      std::memcpy(&size, at(offset), sizeof size);
      if (size == skip_mark) {
        if (capacity_ - offset > written - read) {
          return false; // skips past what was written
        }
        read += capacity_ - offset;
        continue;
      }
      if (record_size(size) > written - read ||
          offset + record_size(size) > capacity_) {
        return false;
      }
      handle(std::string_view(
          reinterpret_cast<const char*>(at(offset)) + sizeof size, size));
      read += record_size(size);
      h.read.store(read, std::memory_order_release);
    }
    return true;
  }

  /// Before the reader sleeps: from here the writer wakes it. Returns false
  /// (and stays awake) if a record came meanwhile.
  bool sleep_unless_record() noexcept {
    header().reader_sleeping.store(1, std::memory_order_seq_cst);
    if (has_record()) {
      woke();
      return false;
    }
    return true;
  }
  void woke() noexcept {
    header().reader_sleeping.store(0, std::memory_order_relaxed);
  }

private:
  static constexpr std::uint64_t skip_mark = ~std::uint64_t{0};

  struct Header {
    std::uint64_t capacity;
    alignas(cache_line) std::atomic<std::uint64_t> written;
    std::atomic<std::uint32_t> reader_sleeping;
    alignas(cache_line) std::atomic<std::uint64_t> read;
  };

  static constexpr std::uint64_t record_size(std::uint64_t size) noexcept {
    return (sizeof(std::uint64_t) + size + 7) / 8 * 8;
  }

  explicit ReplyRing(SharedMemory memory) : memory_(std::move(memory)) {}

  [[nodiscard]] Header& header() const noexcept {
    return *std::launder(reinterpret_cast<Header*>(memory_.data()));
  }
  [[nodiscard]] std::byte* at(std::uint64_t offset) const noexcept {
    return memory_.data() + sizeof(Header) + offset;
  }

  SharedMemory memory_;
  std::uint64_t capacity_ = 0;
};

} // namespace concurrent::futures::detail
