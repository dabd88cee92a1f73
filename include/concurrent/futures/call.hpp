#pragma once
/// \file
/// `cf::call(fn, args...)`: a call packed to run in another process or
/// worker context, such as a pool's initializer.

#include <concurrent/futures/detail/type_name.hpp>
#include <concurrent/futures/detail/wire.hpp>
#include <concurrent/futures/serialization.hpp>

#include <concepts>
#include <string>
#include <type_traits>
#include <utility>

namespace concurrent::futures {

namespace detail {

// What the process and interpreter pools check at submit. One check per
// type, so that the compiler's first words about a failure name the
// offending type ("In instantiation of ... [with T = int*]").
template <class T> constexpr bool callable_crosses() {
  static_assert(transferable<T>,
                "the callable must be transferable (a "
                "function pointer, a capture-less lambda, or a functor with a "
                "serialize member)");
  return true;
}
template <class T> constexpr bool argument_crosses() {
  static_assert(transferable<T>, "every argument must be transferable "
                                 "(see cf::transferable)");
  return true;
}
template <class T> constexpr bool result_crosses() {
  static_assert(std::is_void_v<T> || transferable<T>,
                "the result type must be transferable");
  return true;
}

/// All of a call's types can cross: the callable, each argument, the result.
template <class F, class... Args> constexpr bool call_crosses() {
  return callable_crosses<std::decay_t<F>>() &&
         (argument_crosses<std::decay_t<Args>>() && ...) &&
         result_crosses<std::remove_cvref_t<
             std::invoke_result_t<std::decay_t<F>, std::decay_t<Args>...>>>();
}

} // namespace detail

/// A call, encoded when made: the code to run (named by its place in its
/// module, checked by a fingerprint on arrival), the callable and the
/// arguments. Made by `cf::call`; copyable; its result is discarded.
class Call {
public:
  /// The encoded call, as a process pool sends it.
  [[nodiscard]] const std::string& bytes() const noexcept { return bytes_; }

private:
  explicit Call(std::string bytes) : bytes_(std::move(bytes)) {}
  template <class F, class... Args> friend Call call(F&& fn, Args&&... args);

  std::string bytes_;
};

/// Packs `fn(args...)` to run elsewhere: `fn` and `args` must be
/// transferable (a function pointer or capture-less lambda, and values).
///
/// \code
///   cf::ProcessPoolExecutor pool({.initializer = cf::call(open_log,
///   "w.log")});
/// \endcode
template <class F, class... Args>
[[nodiscard]] Call call(F&& fn, Args&&... args) {
  using Fn = std::decay_t<F>;
  static_assert(transferable<Fn>,
                "cf::call: the callable must be transferable (a function "
                "pointer, a capture-less lambda, or a functor with a "
                "serialize member)");
  static_assert((transferable<std::decay_t<Args>> && ...),
                "cf::call: every argument must be transferable");
  static_assert(std::invocable<Fn, std::decay_t<Args>...>,
                "cf::call: the callable cannot be called with these arguments");
  OutputArchive out;
  detail::encode_entry(out,
                       detail::task_entry<void, Fn, std::decay_t<Args>...>);
  out(static_cast<const Fn&>(fn));
  (out(static_cast<const std::decay_t<Args>&>(args)), ...);
  return Call(std::move(out).bytes());
}

} // namespace concurrent::futures
