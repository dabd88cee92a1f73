#pragma once
/// \file
/// The exception hierarchy, mirroring Python's `concurrent.futures` errors.

#include <stdexcept>
#include <string>
#include <utility>

namespace concurrent::futures {

/// Base of every error this library raises (Python:
/// `concurrent.futures.Error`).
class Error : public std::runtime_error {
public:
  using std::runtime_error::runtime_error;
};

/// A future was cancelled; raised by `result()` and `exception()`.
class CancelledError : public Error {
public:
  CancelledError() : Error("the future was cancelled") {}
  using Error::Error;
};

/// A timeout passed before the awaited event.
class TimeoutError : public Error {
public:
  TimeoutError() : Error("timed out") {}
  using Error::Error;
};

/// An operation is not allowed in the future's current state.
class InvalidStateError : public Error {
public:
  using Error::Error;
};

/// An executor can no longer run work (a worker failed to start or died).
class BrokenExecutor : public Error {
public:
  using Error::Error;
};

/// A thread pool's initializer failed (Python: `thread.BrokenThreadPool`).
class BrokenThreadPool : public BrokenExecutor {
public:
  using BrokenExecutor::BrokenExecutor;
};

/// An interpreter pool's initializer failed
/// (Python: `interpreter.BrokenInterpreterPool`).
class BrokenInterpreterPool : public BrokenThreadPool {
public:
  using BrokenThreadPool::BrokenThreadPool;
};

/// A worker process died or failed to start (Python:
/// `process.BrokenProcessPool`).
class BrokenProcessPool : public BrokenExecutor {
public:
  using BrokenExecutor::BrokenExecutor;
};

/// A task failed with an exception that could not be carried back as itself
/// (Python: `interpreter.ExecutionFailed`). Keeps the original type's name and
/// message.
class ExecutionFailed : public Error {
public:
  ExecutionFailed(std::string type_name, std::string message)
      : Error(type_name + ": " + message), type_name_(std::move(type_name)),
        message_(std::move(message)) {}

  /// The name of the original exception's type.
  [[nodiscard]] const std::string& type_name() const noexcept {
    return type_name_;
  }
  /// The original exception's message (its `what()`).
  [[nodiscard]] const std::string& message() const noexcept { return message_; }

private:
  std::string type_name_;
  std::string message_;
};

/// A value had to cross to another process or worker context and could not.
class SerializationError : public Error {
public:
  using Error::Error;
};

} // namespace concurrent::futures
