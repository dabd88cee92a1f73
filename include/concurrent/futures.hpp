#pragma once
/// \file
/// Python's `concurrent.futures` for C++20: include this for all of it.
///
/// \code
///   #include <concurrent/futures.hpp>
///   namespace cf = concurrent::futures;
///
///   cf::ThreadPoolExecutor pool;
///   auto f = pool.submit([](int x) { return x * x; }, 7);
///   for (auto done : cf::as_completed(std::vector{f})) { done.result(); }
/// \endcode

#include <concurrent/futures/as_completed.hpp>
#include <concurrent/futures/call.hpp>
#include <concurrent/futures/errors.hpp>
#include <concurrent/futures/executor.hpp>
#include <concurrent/futures/future.hpp>
#include <concurrent/futures/interpreter.hpp>
#include <concurrent/futures/map.hpp>
#if defined(__linux__)
#include <concurrent/futures/process.hpp> // Linux only, for now
#endif
#include <concurrent/futures/serialization.hpp>
#include <concurrent/futures/thread.hpp>
#include <concurrent/futures/version.hpp>
#include <concurrent/futures/wait.hpp>
