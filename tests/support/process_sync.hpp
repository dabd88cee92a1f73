#pragma once
// Making a task in a worker process wait for the test, without sleeping: a
// named pipe (FIFO) that the task opens for reading blocks until the test
// opens it for writing.

#include <filesystem>
#include <string>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

namespace test {

/// A named pipe in a fresh temporary directory, removed with it.
class Fifo {
public:
  Fifo() {
    char dir[] = "/tmp/cf-fifo-XXXXXX";
    dir_ = ::mkdtemp(dir);
    path_ = dir_ + "/fifo";
    ::mkfifo(path_.c_str(), 0600);
  }
  Fifo(const Fifo&) = delete;
  Fifo& operator=(const Fifo&) = delete;
  ~Fifo() { std::filesystem::remove_all(dir_); }

  /// The path a task is given.
  [[nodiscard]] const std::string& path() const { return path_; }

private:
  std::string dir_;
  std::string path_;
};

class ProcessGate : public Fifo {
public:
  ProcessGate() = default;
  ~ProcessGate() {
    open_gate();
    ::close(writer_);
  }

  /// Lets every task waiting at the gate (and every later one) through:
  /// a writer stays open (so opening for reading no longer blocks) and one
  /// byte per passing task is already in the pipe.
  void open_gate() {
    if (writer_ >= 0) {
      return;
    }
    writer_ = ::open(path().c_str(), O_RDWR); // O_RDWR: does not block
    const std::string bytes(4096, 'g');
    [[maybe_unused]] const ssize_t n =
        ::write(writer_, bytes.data(), bytes.size());
  }

private:
  int writer_ = -1;
};

/// A task tells the test it has started: the test's `wait()` blocks until a
/// task calls `signal_at(path())`.
class ProcessSignal : public Fifo {
public:
  /// Blocks until a task has called `signal_at(path())` (the ctest timeout
  /// is the hang guard).
  void wait() {
    const int fd = ::open(path().c_str(), O_RDONLY); // waits for the writer
    ::close(fd);
  }
};

/// In a task: tells the test waiting on the signal at `path`.
inline void signal_at(const std::string& path) {
  const int fd = ::open(path.c_str(), O_WRONLY); // waits for the reader
  ::close(fd);
}

/// In a task: blocks until the gate at `path` is opened.
inline bool wait_at(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY);
  if (fd < 0) {
    return false;
  }
  char byte = 0;
  const ssize_t n = ::read(fd, &byte, 1);
  ::close(fd);
  return n >= 0;
}

} // namespace test
