#pragma once
/// \file
/// `map()`: call a function on every element of one or more ranges through an
/// executor, and read the results in input order (Python's `Executor.map`).

#include <concurrent/futures/detail/deadline.hpp>
#include <concurrent/futures/detail/shared_state.hpp>
#include <concurrent/futures/detail/single_pass.hpp>
#include <concurrent/futures/errors.hpp>
#include <concurrent/futures/future.hpp>
#include <concurrent/futures/serialization.hpp>

#include <algorithm>
#include <concepts>
#include <cstddef>
#include <cstdint>
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

class Executor;

namespace detail {
class SubmitBatch; // executor.hpp

/// What a batch of map()'s calls holds. A process pool may queue the chunks
/// of a chunked map() ahead of its free workers (CPython queues one extra
/// call of any kind): no caller holds their futures to cancel one, so
/// nothing but speed tells that they count as running from then on.
enum class BatchOf { calls, chunks };

/// The batch of an executor that is not an `Executor`: none.
struct NoBatch {
  template <class Ex>
  explicit NoBatch(Ex& /*executor*/, BatchOf /*kind*/ = BatchOf::calls) {}
  template <class Submit> auto add(Submit&& submit) {
    return std::forward<Submit>(submit)();
  }
  void enqueue() {}
};

template <class Ex>
using BatchFor =
    std::conditional_t<std::derived_from<Ex, Executor>, SubmitBatch, NoBatch>;
} // namespace detail

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
  /// Submits up to `most` next calls, appending their futures to
  /// `futures`; returns false once the input is used up.
  using Submitter =
      std::function<bool(std::deque<Future<R>>& futures, std::size_t most)>;

  /// `*it` waits for that call's result and rethrows its exception;
  /// `TimeoutError` once the map's deadline has passed (then every call not
  /// yet started is cancelled).
  using iterator =
      detail::SinglePassIterator<MapResults, value_type, value_type&>;

  /// `largest_batch`: how many calls may be handed to the pool at once.
  MapResults(Submitter submit_next, std::optional<std::size_t> buffersize,
             detail::Deadline deadline, std::size_t largest_batch = first_batch)
      : submit_next_(std::move(submit_next)), buffersize_(buffersize),
        deadline_(deadline) {
    try {
      const std::size_t limit = buffersize_.value_or(SIZE_MAX);
      std::size_t batch = std::min(first_batch, largest_batch);
      while (futures_.size() < limit &&
             submit_more(std::min(limit - futures_.size(), batch))) {
        batch = std::min(batch * 2, largest_batch);
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
    submit_more(1);
  }

  // Calls handed to the pool at once: one queue-lock acquisition for many
  // submits. The first batch is small, so that the first calls start soon;
  // each next one is twice as large, up to the largest the map allows.
  static constexpr std::size_t first_batch = 128;

  bool submit_more(std::size_t most) {
    if (!submit_next_) {
      return false;
    }
    if (!submit_next_(futures_, most)) {
      submit_next_ = nullptr; // drop the inputs as soon as they are used up
      return false;
    }
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

/// The inputs of one `map()` call, read in step (stopping at the shortest);
/// lives on the heap because it holds iterators into the ranges it owns.
template <class... Rs> class ZippedInputs {
public:
  explicit ZippedInputs(Rs&&... ranges)
      : ranges_(InputRange<Rs>(std::forward<Rs>(ranges))...),
        iterators_(std::apply(
            [](auto&... r) {
              return std::tuple(std::ranges::begin(r.get())...);
            },
            ranges_)) {}
  ZippedInputs(const ZippedInputs&) = delete;
  ZippedInputs& operator=(const ZippedInputs&) = delete;

  /// Calls `use(elements...)` with the next element of every range, up to
  /// `most` times (fewer at the end of the shortest), stepping past them;
  /// returns how many. If `use` throws, the elements it was given stay next.
  template <class Use> std::size_t take(std::size_t most, Use&& use) {
    return take(most, use, std::index_sequence_for<Rs...>{});
  }

  /// The next `most` element tuples (fewer at the end of the shortest) as
  /// `T`s, stepping past them. If making one throws, that element stays next.
  template <class T> std::vector<T> take_vector(std::size_t most) {
    if constexpr ((block_readable<std::remove_reference_t<Rs>> && ...)) {
      return take_block<T>(most, std::index_sequence_for<Rs...>{});
    } else {
      std::vector<T> taken;
      taken.reserve(std::min<std::size_t>(most, 4096));
      take(most, [&](auto&&... elements) { taken.emplace_back(elements...); });
      return taken;
    }
  }

private:
  // Ranges whose length left is known in one step: a block of them is
  // copied without a bounds check per element, in a loop the compiler can
  // vectorise (for a map of a million ints, a third of the submitting
  // thread's time went to that check and the vector's growth test).
  template <class R>
  static constexpr bool block_readable =
      std::ranges::random_access_range<R>&& std::sized_sentinel_for<
          std::ranges::sentinel_t<R>, std::ranges::iterator_t<R>>;

  template <class T, std::size_t... I>
  std::vector<T> take_block(std::size_t most, std::index_sequence<I...>) {
    auto& its = iterators_;
    const std::size_t n = std::min(
        {most,
         static_cast<std::size_t>(std::ranges::end(std::get<I>(ranges_).get()) -
                                  std::get<I>(its))...});
    const auto step = [](auto it, std::size_t k) {
      return it + static_cast<std::iter_difference_t<decltype(it)>>(k);
    };
    std::vector<T> taken;
    if constexpr (sizeof...(I) == 1) {
      taken.assign(std::get<I>(its)..., step(std::get<I>(its), n)...);
    } else {
      taken.reserve(n);
      for (std::size_t k = 0; k < n; ++k) {
        taken.emplace_back(*step(std::get<I>(its), k)...);
      }
    }
    ((std::get<I>(its) = step(std::get<I>(its), n)), ...);
    return taken;
  }

  template <class Use, std::size_t... I>
  std::size_t take(std::size_t most, Use& use, std::index_sequence<I...>) {
    // In locals, the iterators can stay in registers while `use` stores.
    auto its = std::move(iterators_);
    struct PutBack {
      ZippedInputs& inputs;
      decltype(its)& taken;
      ~PutBack() { inputs.iterators_ = std::move(taken); }
    } put_back{*this, its};
    const auto ends =
        std::tuple(std::ranges::end(std::get<I>(ranges_).get())...);
    std::size_t n = 0;
    for (; n < most && ((std::get<I>(its) != std::get<I>(ends)) && ...); ++n) {
      use(*std::get<I>(its)...);
      (++std::get<I>(its), ...);
    }
    return n;
  }

  std::tuple<InputRange<Rs>...> ranges_;
  std::tuple<std::ranges::iterator_t<std::remove_reference_t<Rs>>...>
      iterators_;
};

/// The result type of `fn` called with one element of each range.
template <class Fn, class... Rs>
using map_result_t = std::remove_cvref_t<std::invoke_result_t<
    std::decay_t<Fn>&,
    std::ranges::range_reference_t<std::remove_reference_t<Rs>>...>>;

template <class Fn, class... Rs>
void check_map_arguments(const MapOptions& options) {
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
}

inline std::optional<std::size_t> buffer_limit(const MapOptions& options) {
  if (options.buffersize) {
    return static_cast<std::size_t>(*options.buffersize);
  }
  return std::nullopt;
}

/// Runs `add_calls(batch)`, which submits calls through `batch` and appends
/// their futures to `futures`, then hands the batch to the pool. If any of
/// it throws, cancels every future appended: none of those calls may run
/// (not scheduled, or only some of them, by a pool that refused the rest).
template <class Ex, class Futures, class AddCalls>
void submit_batch(Ex& executor, Futures& futures, BatchOf kind,
                  AddCalls&& add_calls) {
  const std::size_t before = futures.size();
  try {
    BatchFor<Ex> batch(executor, kind);
    std::forward<AddCalls>(add_calls)(batch);
    batch.enqueue();
  } catch (...) {
    for (std::size_t i = before; i < futures.size(); ++i) {
      futures[i].cancel();
    }
    throw;
  }
}

template <class Ex, class Fn, class... Rs>
auto map_with(Ex& executor, Fn&& fn, const MapOptions& options,
              Rs&&... ranges) {
  check_map_arguments<Fn, Rs...>(options);
  const Deadline deadline = deadline_after(options.timeout);
  using Result = map_result_t<Fn, Rs...>;
  auto inputs =
      std::make_shared<ZippedInputs<Rs...>>(std::forward<Rs>(ranges)...);
  auto submit_next =
      [inputs, &executor, fn = std::decay_t<Fn>(std::forward<Fn>(fn))](
          std::deque<Future<Result>>& futures, std::size_t most) mutable {
        bool more = true;
        submit_batch(executor, futures, BatchOf::calls, [&](auto& batch) {
          more = inputs->take(most, [&](auto&&... args) {
            futures.push_back(
                batch.add([&] { return executor.submit(fn, args...); }));
          }) == most;
        });
        return more;
      };
  // Up to 4096 calls a batch: a pool whose threads run calls faster than
  // this thread submits them parks them between batches, and each batch
  // wakes them again (W3 on the thread pool: 240-300 ms with batches of 128,
  // 200-240 ms up to 4096; 16384 was a little faster still, but holds the
  // queue's lock for a fifth of a millisecond).
  return MapResults<Result>(std::move(submit_next), buffer_limit(options),
                            deadline, 4096);
}

/// One result inside a chunk: a plain wrapper so that a chunk of `bool`
/// results is not a `std::vector<bool>` (whose elements are not objects).
/// The initialiser makes a vector of them value-initialise with a loop the
/// compiler turns into a block fill (without it, libstdc++ filled element by
/// element, and decoding a chunk of ints took three times as long).
template <class T> struct ChunkItem { T value{}; };

/// One task of a chunked map: calls `fn` on each argument tuple of a chunk.
/// Transferable when `fn` is, so a chunk crosses to a worker as one message.
template <class Fn> struct ChunkRunner {
  Fn fn;

  template <class... Es> auto operator()(std::vector<std::tuple<Es...>> chunk) {
    using R = std::remove_cvref_t<std::invoke_result_t<Fn&, Es...>>;
    using Value = std::conditional_t<std::is_void_v<R>, std::monostate, R>;
    std::vector<ChunkItem<Value>> results;
    results.reserve(chunk.size());
    for (auto& args : chunk) {
      if constexpr (std::is_void_v<R>) {
        std::apply(fn, std::move(args));
        results.push_back({});
      } else {
        results.push_back({std::apply(fn, std::move(args))});
      }
    }
    return results;
  }

  template <class Archive> void serialize(Archive& ar) { ar(fn); }
};

} // namespace detail

/// The results of a chunked `map()`: each task computed a chunk of results;
/// this range yields them one by one, in input order. If a chunk's task
/// raised, reading any result of that chunk raises that exception (the
/// chunk has no results); iteration may go on to the next chunk.
template <class R> class ChunkedMapResults {
public:
  using value_type = typename MapResults<R>::value_type;
  using Chunk = std::vector<detail::ChunkItem<value_type>>;
  class iterator;

  /// `sizes` receives each chunk's size as the chunk is submitted.
  ChunkedMapResults(MapResults<Chunk> chunks,
                    std::shared_ptr<std::deque<std::size_t>> sizes)
      : chunks_(std::move(chunks)), sizes_(std::move(sizes)),
        chunk_(chunks_.begin()) {}
  ChunkedMapResults(ChunkedMapResults&& other) noexcept
      : chunks_(std::move(other.chunks_)), sizes_(std::move(other.sizes_)),
        chunk_(chunks_.begin()), pos_(other.pos_), end_(other.end_),
        index_(other.index_) {}
  ChunkedMapResults& operator=(ChunkedMapResults&&) = delete;

  iterator begin() { return iterator(this); }
  std::default_sentinel_t end() const noexcept { return {}; }

private:
  using Item = detail::ChunkItem<value_type>;
  friend iterator;

  bool at_end() const {
    return pos_ == nullptr && chunk_ == std::default_sentinel;
  }

  // Waits for the current chunk's results, once per chunk.
  void load() {
    Chunk& items = *chunk_;
    pos_ = items.data() + index_;
    end_ = items.data() + items.size();
  }
  // Past the end of a loaded chunk, or one step in a chunk never read.
  void next_item() {
    if (pos_ == nullptr && ++index_ != sizes_->front()) {
      return;
    }
    sizes_->pop_front();
    index_ = 0;
    pos_ = end_ = nullptr;
    ++chunk_;
  }

  MapResults<Chunk> chunks_;
  std::shared_ptr<std::deque<std::size_t>> sizes_;
  typename MapResults<Chunk>::iterator chunk_;
  Item* pos_ = nullptr; // the next result, once its chunk's results came
  Item* end_ = nullptr;
  std::size_t index_ = 0; // in the current chunk, while it is not loaded
};

/// Within a chunk whose results came, a step is a pointer increment on the
/// iterator's own copy of the range's position: a loop's sum then stays in a
/// register (with the position only in the range, GCC kept the caller's sum
/// in memory, and each step waited on the previous step's store).
template <class R> class ChunkedMapResults<R>::iterator {
public:
  using value_type = typename ChunkedMapResults::value_type;
  using difference_type = std::ptrdiff_t;
  using iterator_concept = std::input_iterator_tag;

  iterator() = default;
  explicit iterator(ChunkedMapResults* range)
      : range_(range), pos_(range->pos_), end_(range->end_) {}

  value_type& operator*() const {
    if (pos_ == nullptr) [[unlikely]] {
      range_->load();
      pos_ = range_->pos_;
      end_ = range_->end_;
    }
    return pos_->value;
  }
  auto operator->() const { return std::addressof(**this); }
  iterator& operator++() {
    if (pos_ != nullptr && ++pos_ != end_) [[likely]] {
      range_->pos_ = pos_; // a later begin() goes on from here
      return *this;
    }
    range_->pos_ = pos_;
    range_->next_item();
    pos_ = range_->pos_;
    end_ = range_->end_;
    return *this;
  }
  void operator++(int) { ++*this; }
  friend bool operator==(const iterator& it, std::default_sentinel_t) {
    return it.done();
  }

private:
  bool done() const { return pos_ == nullptr && range_->at_end(); }

  ChunkedMapResults* range_ = nullptr;
  // Mutable: reading the first result of a chunk loads it.
  mutable Item* pos_ = nullptr;
  mutable Item* end_ = nullptr;
};

namespace detail {

/// `map()` for executors that send work to other processes: the calls go in
/// chunks of `options.chunksize`, one task (one message each way) a chunk;
/// `buffersize` counts chunks.
template <class Ex, class Fn, class... Rs>
auto map_chunked(Ex& executor, Fn&& fn, const MapOptions& options,
                 Rs&&... ranges) {
  check_map_arguments<Fn, Rs...>(options);
  const Deadline deadline = deadline_after(options.timeout);
  using Result = map_result_t<Fn, Rs...>;
  using Args = std::tuple<std::remove_cvref_t<
      std::ranges::range_reference_t<std::remove_reference_t<Rs>>>...>;
  using Value = typename MapResults<Result>::value_type;
  auto inputs =
      std::make_shared<ZippedInputs<Rs...>>(std::forward<Rs>(ranges)...);
  auto sizes = std::make_shared<std::deque<std::size_t>>();
  const auto chunksize = static_cast<std::size_t>(options.chunksize);
  auto submit_next =
      [inputs, sizes, chunksize, &executor,
       runner = ChunkRunner<std::decay_t<Fn>>{std::decay_t<Fn>(std::forward<Fn>(
           fn))}](std::deque<Future<std::vector<ChunkItem<Value>>>>& futures,
                  std::size_t most) {
        bool more = true;
        submit_batch(executor, futures, BatchOf::chunks, [&](auto& batch) {
          for (std::size_t i = 0; i < most && more; ++i) {
            std::vector<Args> chunk =
                inputs->template take_vector<Args>(chunksize);
            more = chunk.size() == chunksize;
            if (chunk.empty()) {
              break;
            }
            const std::size_t size = chunk.size();
            futures.push_back(batch.add(
                [&] { return executor.submit(runner, std::move(chunk)); }));
            sizes->push_back(size);
          }
        });
        return more;
      };
  return ChunkedMapResults<Result>(
      // Batches of 128 chunks: a chunk takes long to encode, and a larger
      // batch, encoded before any of it is queued, left the workers waiting.
      MapResults<std::vector<ChunkItem<Value>>>(
          std::move(submit_next), buffer_limit(options), deadline),
      std::move(sizes));
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

/// Splits `args...` into the input ranges and the optional trailing
/// MapOptions, and calls `map_impl(executor, fn, options, ranges...)`.
template <class MapImpl, class Ex, class Fn, class... Args>
auto map_dispatch_to(MapImpl map_impl, Ex& executor, Fn&& fn, Args&&... args) {
  if constexpr (ends_with_options<Args...>) {
    auto all = std::forward_as_tuple(std::forward<Args>(args)...);
    constexpr std::size_t n = sizeof...(Args) - 1;
    return [&]<std::size_t... I>(std::index_sequence<I...>) {
      return map_impl(executor, std::forward<Fn>(fn), std::get<n>(all),
                      std::get<I>(std::move(all))...);
    }
    (std::make_index_sequence<n>{});
  } else {
    return map_impl(executor, std::forward<Fn>(fn), MapOptions{},
                    std::forward<Args>(args)...);
  }
}

template <class Ex, class Fn, class... Args>
auto map_dispatch(Ex& executor, Fn&& fn, Args&&... args) {
  return map_dispatch_to(
      [](auto& ex, auto&& f, const MapOptions& options, auto&&... ranges) {
        return map_with(ex, std::forward<decltype(f)>(f), options,
                        std::forward<decltype(ranges)>(ranges)...);
      },
      executor, std::forward<Fn>(fn), std::forward<Args>(args)...);
}

} // namespace detail

namespace detail {
template <number T> struct OneNumber<ChunkItem<T>> {
  using type = T;
  static auto& get(auto& item) { return item.value; }
};
} // namespace detail

/// Chunk items travel as their value.
template <transferable T> struct Codec<detail::ChunkItem<T>> {
  static constexpr bool enabled = true;
  static constexpr std::size_t min_size = detail::min_size<T>();
  static void encode(OutputArchive& out, const detail::ChunkItem<T>& item) {
    Codec<T>::encode(out, item.value);
  }
  static detail::ChunkItem<T> decode(InputArchive& in) {
    return {Codec<T>::decode(in)};
  }
};

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
  if constexpr (requires {
                  executor.map(std::forward<Fn>(fn),
                               std::forward<Args>(args)...);
                }) {
    // The executor's own map: a process pool's sends calls in chunks.
    return executor.map(std::forward<Fn>(fn), std::forward<Args>(args)...);
  } else {
    return detail::map_dispatch(executor, std::forward<Fn>(fn),
                                std::forward<Args>(args)...);
  }
}

} // namespace concurrent::futures
