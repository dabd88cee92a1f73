#pragma once
// The executor types the contract suite runs against, and how to make one
// with a given number of workers. A new pool joins the suite by adding a
// `Make` specialisation and its type to CF_EXECUTOR_TYPES.

#include <concurrent/futures/interpreter.hpp>
#include <concurrent/futures/process.hpp>
#include <concurrent/futures/thread.hpp>

namespace test {

template <class E> struct Make {
  static E make(int workers) { return E(workers); }
};

} // namespace test

#define CF_EXECUTOR_TYPES                                                      \
  concurrent::futures::ThreadPoolExecutor,                                     \
      concurrent::futures::ProcessPoolExecutor,                                \
      concurrent::futures::InterpreterPoolExecutor
