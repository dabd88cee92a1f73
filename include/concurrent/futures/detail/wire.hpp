#pragma once
// What travels between a process pool and its workers: the messages, how a
// call names the code to run (an entry), and how exceptions cross.

#include <concurrent/futures/detail/code_address.hpp>
#include <concurrent/futures/detail/type_name.hpp>
#include <concurrent/futures/errors.hpp>
#include <concurrent/futures/serialization.hpp>

#include <cstdint>
#include <exception>
#include <functional>
#include <new>
#include <stdexcept>
#include <string>
#include <tuple>
#include <type_traits>
#include <typeinfo>
#include <utility>

namespace concurrent::futures::detail {

enum class Message : std::uint8_t {
  task = 1,         // parent -> worker: id, entry, fingerprint, call bytes
  ready = 10,       // worker -> parent: initializer done, taking tasks
  init_failed = 11, // worker -> parent: exception record; then it exits
  result = 12,      // worker -> parent: id, ok, result bytes or exception
  wakeup = 13,      // worker -> parent: results wait in shared memory
};

/// How a worker runs one kind of call (one callable type with one list of
/// argument types): decode the call, run it, encode the result. One constant
/// per kind of call lives in the binary; a task names it by its place in its
/// module, and carries its fingerprint so that the worker can check that
/// what it found there is what the parent meant.
struct TaskEntry {
  std::uint64_t fingerprint;
  void (*run)(InputArchive& call, OutputArchive& result);
};

template <class R, class F, class... Args>
void run_encoded_call(InputArchive& call, OutputArchive& result) {
  // Braced initialisation reads the callable, then the arguments, in order.
  std::tuple<F, Args...> decoded{call.read<F>(), call.read<Args>()...};
  if (!call.at_end()) {
    throw SerializationError("corrupted call: bytes left over");
  }
  if constexpr (std::is_void_v<R>) {
    std::apply(
        [](F& fn, Args&... args) {
          std::invoke(std::move(fn), std::move(args)...);
        },
        decoded);
  } else {
    result(std::apply(
        [](F& fn, Args&... args) -> R {
          return std::invoke(std::move(fn), std::move(args)...);
        },
        decoded));
  }
}

template <class R, class F, class... Args>
inline constexpr TaskEntry task_entry{fingerprint<R, F, Args...>(),
                                      &run_encoded_call<R, F, Args...>};

/// Writes the reference to an entry that a task carries.
inline void encode_entry(OutputArchive& out, const TaskEntry& entry) {
  const CodeAddress where = locate(&entry);
  out(where.module);
  out.write_size(where.offset);
  out(entry.fingerprint);
}

/// Finds the entry a task names, checking that it is one.
inline const TaskEntry& decode_entry(InputArchive& in) {
  CodeAddress where;
  where.module = in.read<std::string>();
  where.offset = in.read_size();
  const auto fingerprint = in.read<std::uint64_t>();
  if (where.offset % alignof(TaskEntry) != 0) {
    throw SerializationError("task names a misaligned entry");
  }
  // The whole entry must lie inside the module, not just its first byte.
  CodeAddress last = where;
  last.offset += sizeof(TaskEntry) - 1;
  resolve(last, false);
  const auto* entry = static_cast<const TaskEntry*>(resolve(where, false));
  if (entry->fingerprint != fingerprint) {
    throw SerializationError(
        "task names code this worker does not have (fingerprint mismatch): "
        "is the worker running the same binary?");
  }
  return *entry;
}

// --- exceptions ------------------------------------------------------------

template <class... Ts> struct TypeList {};

/// The exception types that come back as themselves (same type, same
/// what()); anything else comes back as ExecutionFailed naming its type.
using KnownErrors =
    TypeList<std::exception, std::logic_error, std::invalid_argument,
             std::domain_error, std::length_error, std::out_of_range,
             std::runtime_error, std::range_error, std::overflow_error,
             std::underflow_error, std::bad_alloc, Error, CancelledError,
             TimeoutError, InvalidStateError, BrokenExecutor, BrokenThreadPool,
             BrokenInterpreterPool, BrokenProcessPool, SerializationError>;

/// An exception record's type code: 1 + the index in KnownErrors, or one of:
inline constexpr std::uint8_t unknown_error_code = 0;
inline constexpr std::uint8_t execution_failed_code = 255;

template <class F, class... Es> void for_each_type(TypeList<Es...>, F&& f) {
  std::uint8_t code = 1;
  (f(std::type_identity<Es>{}, code++), ...);
}

template <class E> E make_error(const std::string& what) {
  if constexpr (std::is_constructible_v<E, const std::string&>) {
    return E(what);
  } else {
    return E(); // std::exception, std::bad_alloc: no message to carry
  }
}

/// A record of `error`: its type code, its type's name and its message.
inline void encode_exception(OutputArchive& out, std::exception_ptr error) {
  std::uint8_t code = unknown_error_code;
  std::string type_name = "unknown exception";
  std::string message;
  try {
    std::rethrow_exception(std::move(error));
  } catch (const ExecutionFailed& e) {
    code = execution_failed_code;
    type_name = e.type_name();
    message = e.message();
  } catch (const std::exception& e) {
    type_name = demangle(typeid(e).name());
    message = e.what();
    for_each_type(KnownErrors{}, [&](auto known, std::uint8_t known_code) {
      if (typeid(e) == typeid(typename decltype(known)::type)) {
        code = known_code;
      }
    });
  } catch (...) {
#if defined(__GNUG__)
    if (const std::type_info* type = abi::__cxa_current_exception_type()) {
      type_name = demangle(type->name());
    }
#endif
  }
  out(code, type_name, message);
}

/// The same exception with an `ExecutionFailed` nested as its cause (as
/// Python's interpreter pool chains it): catchable as the original type,
/// and `std::rethrow_if_nested` gives the `ExecutionFailed`.
template <class E>
std::exception_ptr with_execution_failed_cause(const std::string& message,
                                               ExecutionFailed cause) {
  try {
    throw cause;
  } catch (...) {
    try {
      std::throw_with_nested(make_error<E>(message));
    } catch (...) {
      return std::current_exception();
    }
  }
}

/// The exception an `encode_exception` record describes, ready to rethrow:
/// a known type as itself (with `nest_cause`, as the interpreter pool wants
/// it, with an `ExecutionFailed` nested as its cause), any other type as
/// `ExecutionFailed`.
inline std::exception_ptr decode_exception(InputArchive& in,
                                           bool nest_cause = false) {
  const auto code = in.read<std::uint8_t>();
  auto type_name = in.read<std::string>();
  auto message = in.read<std::string>();
  std::exception_ptr result;
  for_each_type(KnownErrors{}, [&](auto known, std::uint8_t known_code) {
    using E = typename decltype(known)::type;
    if (code == known_code) {
      result = nest_cause ? with_execution_failed_cause<E>(
                                message, ExecutionFailed(type_name, message))
                          : std::make_exception_ptr(make_error<E>(message));
    }
  });
  if (!result) {
    result = std::make_exception_ptr(
        ExecutionFailed(std::move(type_name), std::move(message)));
  }
  return result;
}

/// Runs an encoded call (see `Call` and `TaskState::encode_call`) and writes
/// its result into `out`.
inline void run_encoded(std::string_view call, OutputArchive& out) {
  InputArchive in(call);
  const TaskEntry& entry = decode_entry(in);
  entry.run(in, out);
}

/// Runs an isolated call (`StateBase::isolate`) in the calling worker and
/// returns its encoded result. The task's exception does not leave the
/// worker as itself: a fresh copy is made from its record, with an
/// `ExecutionFailed` nested as its cause.
inline std::string run_isolated(std::string_view call) {
  OutputArchive out;
  try {
    run_encoded(call, out);
  } catch (...) {
    OutputArchive record;
    encode_exception(record, std::current_exception());
    InputArchive in(record.bytes());
    std::rethrow_exception(decode_exception(in, /*nest_cause=*/true));
  }
  return std::move(out).bytes();
}

} // namespace concurrent::futures::detail
