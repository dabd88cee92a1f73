#pragma once
// Small calls the executor tests submit to every kind of pool: plain
// functions, so that they cross to worker processes too.

#include <stdexcept>

namespace test {

inline int add(int a, int b) { return a + b; }

/// Not a standard exception type: a process pool sends it back as
/// cf::ExecutionFailed, an interpreter pool as its cause.
struct CustomError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

} // namespace test
