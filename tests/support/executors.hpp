#pragma once
// The executor types the contract suite runs against, and how to make one
// with a given number of workers. A new pool joins the suite by adding a
// `make` overload and its type to CF_EXECUTOR_TYPES.

#include <concurrent/futures/thread.hpp>

namespace test {

template <class E> struct Make;

template <> struct Make<concurrent::futures::ThreadPoolExecutor> {
  static concurrent::futures::ThreadPoolExecutor make(int workers) {
    return concurrent::futures::ThreadPoolExecutor(workers);
  }
};

} // namespace test

#define CF_EXECUTOR_TYPES concurrent::futures::ThreadPoolExecutor
