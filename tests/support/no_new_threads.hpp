#pragma once
// Making thread and process creation fail, to test what a pool does when
// the system refuses: a seccomp filter makes clone() fail with EAGAIN, as
// when the process is out of threads. A filter cannot be lifted, so tests
// use it in a forked child (`in_child`). x86-64 Linux only.

#include "catch.hpp"

#include <cerrno>
#include <cstddef>
#include <cstdio>
#include <exception>
#include <iterator>

#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

namespace test {

/// From now on, no thread (or process: fork and posix_spawn clone too) can
/// be created by this thread and the threads it starts, or, with
/// `every_thread`, by any thread of this process.
inline bool forbid_new_threads(bool every_thread = false) {
  sock_filter filter[] = {
      BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(seccomp_data, arch)),
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AUDIT_ARCH_X86_64, 1, 0),
      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
      BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(seccomp_data, nr)),
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_clone3, 1, 0),
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_clone, 0, 1),
      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | EAGAIN),
      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
  };
  sock_fprog program{static_cast<unsigned short>(std::size(filter)), filter};
  if (::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) {
    return false;
  }
  const unsigned long flags = every_thread ? SECCOMP_FILTER_FLAG_TSYNC : 0;
  return ::syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, flags, &program) == 0;
}

/// Runs `scenario` (returning 0 when it went as expected) in a forked child
/// and returns the child's exit status.
template <class Scenario> int in_child(Scenario scenario) {
  const pid_t pid = ::fork();
  if (pid == 0) {
    int status = 1;
    try {
      status = scenario();
    } catch (const std::exception& e) {
      std::fprintf(stderr, "child: unexpected exception: %s\n", e.what());
    }
    std::fflush(stderr);
    ::_exit(status);
  }
  int status = 0;
  REQUIRE(::waitpid(pid, &status, 0) == pid);
  REQUIRE(WIFEXITED(status));
  return WEXITSTATUS(status);
}

} // namespace test
