#pragma once
// The iterator of the library's single-pass ranges (`as_completed`, `map`):
// all the work is in the range, which provides `current()`, `advance()` and
// `at_end()`; the iterator only points at it. Ends at `std::default_sentinel`.

#include <cstddef>
#include <iterator>
#include <memory>

namespace concurrent::futures::detail {

template <class Range, class Value, class Reference> class SinglePassIterator {
public:
  using value_type = Value;
  using difference_type = std::ptrdiff_t;
  using iterator_concept = std::input_iterator_tag;

  SinglePassIterator() = default;
  explicit SinglePassIterator(Range* range) : range_(range) {}

  Reference operator*() const { return range_->current(); }
  auto operator->() const { return std::addressof(range_->current()); }
  SinglePassIterator& operator++() {
    range_->advance();
    return *this;
  }
  void operator++(int) { ++*this; }
  friend bool operator==(const SinglePassIterator& it,
                         std::default_sentinel_t) {
    return it.at_end();
  }

private:
  // A member, so that the range's friendship with this class covers it.
  bool at_end() const { return range_->at_end(); }

  Range* range_ = nullptr;
};

} // namespace concurrent::futures::detail
