#pragma once
/// \file
/// `map()`: call a function on every element of one or more ranges through an
/// executor, and read the results in input order (Python's `Executor.map`).

#include <concurrent/futures/detail/deadline.hpp>
#include <concurrent/futures/detail/shared_state.hpp>
#include <concurrent/futures/detail/single_pass.hpp>
#include <concurrent/futures/errors.hpp>
#include <concurrent/futures/future.hpp>

#include <chrono>
#include <concepts>
#include <cstddef>
#include <deque>
#include <functional>
#include <iterator>
#include <memory>
#include <optional>
#include <ranges>
#include <stdexcept>
#include <tuple>
#include <type_traits>
#include <utility>
#include <variant>

namespace concurrent::futures {

/// Options of `map()`. Fields are in this order so that designated
/// initializers read `{.timeout = 2s, .chunksize = 64, .buffersize = 8}`.
struct MapOptions {
  /// Reading a result later than this after the call throws `TimeoutError`.
  std::optional<std::chrono::duration<double>> timeout{};
  /// Calls sent together to a worker process (`>= 1`); thread pools ignore it.
  int chunksize = 1;
  /// At most this many results submitted and not yet read (`>= 1`); the
  /// input is then read lazily, so it may be endless. No value: submit all
  /// at the call.
  std::optional<int> buffersize{};
};

/// The results of `map()`, in input order: a single-pass range. Reading an
/// element waits for its call and rethrows that call's exception (iteration
/// may go on past it). Destroying the range cancels the calls that have not
/// started. With `buffersize`, the executor and the input ranges must outlive
/// the iteration, since they are read as it goes.
template <class R> class MapResults {
public:
  /// `void` calls yield `std::monostate`.
  using value_type = std::conditional_t<std::is_void_v<R>, std::monostate, R>;
  /// Submits the next call, or returns nothing at the end of the input.
  using Submitter = std::function<std::optional<Future<R>>()>;

  /// `*it` waits for that call's result and rethrows its exception;
  /// `TimeoutError` once the map's deadline has passed (then every call not
  /// yet started is cancelled).
  using iterator =
      detail::SinglePassIterator<MapResults, value_type, value_type&>;

  MapResults(Submitter submit_next, std::optional<std::size_t> buffersize,
             detail::Deadline deadline)
      : submit_next_(std::move(submit_next)), buffersize_(buffersize),
        deadline_(deadline) {
    try {
      while (!buffersize_ || futures_.size() < *buffersize_) {
        if (!submit_one()) {
          break;
        }
      }
    } catch (...) {
      cancel_all();
      throw;
    }
  }

  MapResults(MapResults&& other) noexcept
      : submit_next_(std::exchange(other.submit_next_, nullptr)),
        buffersize_(other.buffersize_), deadline_(other.deadline_),
        futures_(std::exchange(other.futures_, {})) {}
  MapResults& operator=(MapResults&&) = delete;
  MapResults(const MapResults&) = delete;
  ~MapResults() { cancel_all(); }

  iterator begin() { return iterator(this); }
  std::default_sentinel_t end() const noexcept { return {}; }

private:
  friend iterator;

  bool at_end() const { return futures_.empty(); }
  void advance() {
    futures_.pop_front();
    submit_one();
  }

  bool submit_one() {
    if (!submit_next_) {
      return false;
    }
    std::optional<Future<R>> next = submit_next_();
    if (!next) {
      submit_next_ = nullptr; // drop the inputs as soon as they are used up
      return false;
    }
    futures_.push_back(std::move(*next));
    return true;
  }

  value_type& current() {
    const detail::StateBase::Ptr& state =
        detail::FutureAccess::state(futures_.front());
    std::exception_ptr error;
    try {
      error = state->await_outcome(deadline_);
    } catch (const TimeoutError&) {
      cancel_all();
      throw;
    }
    if (error) {
      std::rethrow_exception(error);
    }
    if constexpr (std::is_void_v<R>) {
      return unit_;
    } else {
      // Only this range holds these futures, so handing out the stored
      // result itself (movable) is safe.
      return static_cast<detail::SharedState<R>&>(*state).value();
    }
  }

  void cancel_all() noexcept {
    for (auto& f : futures_) {
      f.cancel();
    }
  }

  Submitter submit_next_;
  std::optional<std::size_t> buffersize_;
  detail::Deadline deadline_;
  std::deque<Future<R>> futures_;
  [[no_unique_address]] std::monostate unit_;
};

namespace detail {

/// One input range of `map()`: referred to if the caller passed an lvalue,
/// owned if it passed a temporary. (Not `std::views::all`, which clang 14
/// cannot compile against libstdc++ 12.)
template <class R> class InputRange {
public:
  using Range = std::remove_reference_t<R>;
  explicit InputRange(R&& range) : range_(take(std::forward<R>(range))) {}
  Range& get() {
    if constexpr (std::is_lvalue_reference_v<R>) {
      return *range_;
    } else {
      return range_;
    }
  }

private:
  static auto take(R&& range) {
    if constexpr (std::is_lvalue_reference_v<R>) {
      return &range;
    } else {
      return Range(std::move(range));
    }
  }

  std::conditional_t<std::is_lvalue_reference_v<R>, Range*, Range> range_;
};

/// The inputs of one `map()` call, read in step; lives on the heap because
/// it holds iterators into the ranges it owns.
template <class Ex, class Fn, class... Rs> class ZippedCalls {
public:
  ZippedCalls(Ex& executor, Fn fn, Rs&&... ranges)
      : executor_(executor), fn_(std::move(fn)),
        ranges_(InputRange<Rs>(std::forward<Rs>(ranges))...),
        iterators_(std::apply(
            [](auto&... r) {
              return std::tuple(std::ranges::begin(r.get())...);
            },
            ranges_)) {}
  ZippedCalls(const ZippedCalls&) = delete;
  ZippedCalls& operator=(const ZippedCalls&) = delete;

  using Result = std::remove_cvref_t<std::invoke_result_t<
      Fn&, std::ranges::range_reference_t<std::remove_reference_t<Rs>>...>>;

  std::optional<Future<Result>> submit_next() {
    return std::apply(
        [&](auto&... its) -> std::optional<Future<Result>> {
          if (at_end(std::index_sequence_for<Rs...>{})) {
            return std::nullopt;
          }
          Future<Result> f = executor_.submit(fn_, *its...);
          (++its, ...);
          return f;
        },
        iterators_);
  }

private:
  template <std::size_t... I> bool at_end(std::index_sequence<I...>) {
    return ((std::get<I>(iterators_) ==
             std::ranges::end(std::get<I>(ranges_).get())) ||
            ...);
  }

  Ex& executor_;
  Fn fn_;
  std::tuple<InputRange<Rs>...> ranges_;
  std::tuple<std::ranges::iterator_t<std::remove_reference_t<Rs>>...>
      iterators_;
};

template <class Ex, class Fn, class... Rs>
auto map_with(Ex& executor, Fn&& fn, const MapOptions& options,
              Rs&&... ranges) {
  static_assert(sizeof...(Rs) > 0, "map() needs at least one input range");
  static_assert((std::ranges::input_range<Rs> && ...),
                "map(): every argument after the function must be an input "
                "range (or the last one a cf::MapOptions)");
  static_assert(
      std::invocable<std::decay_t<Fn>&, std::ranges::range_reference_t<Rs>...>,
      "map(): the function cannot be called with one element of "
      "each input range");
  if (options.chunksize < 1) {
    throw std::invalid_argument("chunksize must be >= 1");
  }
  if (options.buffersize && *options.buffersize < 1) {
    throw std::invalid_argument("buffersize must be None or > 0");
  }
  const Deadline deadline = deadline_after(options.timeout);
  using Calls = ZippedCalls<Ex, std::decay_t<Fn>, Rs...>;
  auto calls = std::make_shared<Calls>(executor, std::forward<Fn>(fn),
                                       std::forward<Rs>(ranges)...);
  using Result = typename Calls::Result;
  std::optional<std::size_t> buffersize;
  if (options.buffersize) {
    buffersize = static_cast<std::size_t>(*options.buffersize);
  }
  return MapResults<Result>([calls] { return calls->submit_next(); },
                            buffersize, deadline);
}

template <class T, class... Ts> struct last {
  using type = typename last<Ts...>::type;
};
template <class T> struct last<T> { using type = T; };

template <class... Args>
constexpr bool ends_with_options = [] {
  if constexpr (sizeof...(Args) == 0) {
    return false;
  } else {
    return std::same_as<std::remove_cvref_t<typename last<Args...>::type>,
                        MapOptions>;
  }
}();

template <class Ex, class Fn, class... Args>
auto map_dispatch(Ex& executor, Fn&& fn, Args&&... args) {
  if constexpr (ends_with_options<Args...>) {
    auto all = std::forward_as_tuple(std::forward<Args>(args)...);
    constexpr std::size_t n = sizeof...(Args) - 1;
    return [&]<std::size_t... I>(std::index_sequence<I...>) {
      return map_with(executor, std::forward<Fn>(fn), std::get<n>(all),
                      std::get<I>(std::move(all))...);
    }
    (std::make_index_sequence<n>{});
  } else {
    return map_with(executor, std::forward<Fn>(fn), MapOptions{},
                    std::forward<Args>(args)...);
  }
}

} // namespace detail

/// `executor.map(fn, ranges...)` as a free function: calls
/// `fn(x, y, ...)` for the elements of the ranges taken in step (stopping at
/// the shortest) and returns the results in input order. An optional last
/// argument `cf::MapOptions{...}` sets the timeout, chunksize and buffersize.
///
/// \code
///   for (int z : cf::map(pool, std::plus<>{}, xs, ys)) use(z);
/// \endcode
template <class Ex, class Fn, class... Args>
requires requires(Ex& ex) { ex.shutdown(); }
[[nodiscard]] auto map(Ex& executor, Fn&& fn, Args&&... args) {
  return detail::map_dispatch(executor, std::forward<Fn>(fn),
                              std::forward<Args>(args)...);
}

} // namespace concurrent::futures
