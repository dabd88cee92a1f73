#pragma once
// Test helpers that make threads meet without sleeping.

#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <sstream>
#include <string>
#include <thread>

#include <unistd.h>

namespace test {

using namespace std::chrono_literals;

/// How long a test waits for something that should happen "now" before it
/// calls it a hang. Generous: sanitizers slow everything down.
inline constexpr auto hang_guard = 60s;

/// A one-shot event: threads block in wait() until someone calls set().
class Event {
public:
  void set() {
    // Notified under the lock: a waiter that returns may destroy the event
    // at once, so set() must not touch it after unlocking.
    std::lock_guard lock(mutex_);
    set_ = true;
    cv_.notify_all();
  }
  /// Waits for set(); false if the hang guard expired first.
  bool wait() {
    std::unique_lock lock(mutex_);
    return cv_.wait_for(lock, hang_guard, [this] { return set_; });
  }
  bool is_set() {
    std::lock_guard lock(mutex_);
    return set_;
  }

private:
  std::mutex mutex_;
  std::condition_variable cv_;
  bool set_ = false;
};

/// Captures what the process writes to stderr (fd 2) while alive.
class StderrCapture {
public:
  StderrCapture() {
    std::fflush(stderr);
    saved_ = dup(2);
    char name[] = "/tmp/cf-stderr-XXXXXX";
    fd_ = mkstemp(name);
    path_ = name;
    dup2(fd_, 2);
  }
  StderrCapture(const StderrCapture&) = delete;
  StderrCapture& operator=(const StderrCapture&) = delete;
  ~StderrCapture() {
    restore();
    close(fd_);
    unlink(path_.c_str());
  }
  /// Stops capturing and returns what was written.
  std::string text() {
    restore();
    std::ifstream in(path_);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
  }

private:
  void restore() {
    if (saved_ >= 0) {
      std::fflush(stderr);
      dup2(saved_, 2);
      close(saved_);
      saved_ = -1;
    }
  }
  int saved_ = -1;
  int fd_ = -1;
  std::string path_;
};

/// Threads in this process now (Linux: entries of /proc/self/task).
inline int thread_count() {
  // ThreadSanitizer starts a helper thread when the first thread is created;
  // make that happen before anything is counted.
  static const bool warmed_up = [] {
    std::thread([] {}).join();
    return true;
  }();
  (void)warmed_up;
  int n = 0;
  for ([[maybe_unused]] const auto& entry :
       std::filesystem::directory_iterator("/proc/self/task")) {
    ++n;
  }
  return n;
}

/// Reads exactly `size` bytes from `fd`; false at end of file.
inline bool read_all(int fd, void* out, std::size_t size) {
  auto* p = static_cast<char*>(out);
  while (size > 0) {
    const ssize_t n = ::read(fd, p, size);
    if (n <= 0) {
      return false;
    }
    p += n;
    size -= static_cast<std::size_t>(n);
  }
  return true;
}

} // namespace test
