#pragma once
// Timeouts as absolute steady-clock deadlines. Every blocking call in the
// library turns its `std::chrono::duration` into one of these at the call, so
// that "timeout from the call" means the same everywhere (Python measures
// `as_completed` and `map` timeouts from the call, too).

#include <optional>

// libstdc++'s <chrono> also brings C++20's calendar and chrono I/O, and with
// them <sstream> and the locales, into every file that includes this library
// (about 0.1 s with clang). The clocks and durations we use are all in
// <bits/chrono.h>, which <thread> and <mutex> include anyway.
#if defined(__GLIBCXX__) && __has_include(<bits/chrono.h>)
#include <bits/chrono.h>
#else
#include <chrono>
#endif

namespace concurrent::futures::detail {

using Clock = std::chrono::steady_clock;

/// No value means "no limit".
using Deadline = std::optional<Clock::time_point>;

/// `now + timeout`, saturating: a timeout too large for the clock is no limit,
/// a negative one is "already passed" (Python treats it like zero).
template <class Rep, class Period>
Deadline deadline_after(std::chrono::duration<Rep, Period> timeout) {
  using namespace std::chrono;
  const auto now = Clock::now();
  const auto room = duration<double>(Clock::time_point::max() - now);
  const auto asked = duration<double>(timeout);
  if (!(asked < room)) { // also catches NaN
    return std::nullopt;
  }
  if (asked <= duration<double>::zero()) {
    return now;
  }
  return now + ceil<Clock::duration>(asked);
}

inline Deadline
deadline_after(std::optional<std::chrono::duration<double>> timeout) {
  return timeout ? deadline_after(*timeout) : std::nullopt;
}

} // namespace concurrent::futures::detail
