#pragma once
// An endless input range for map() tests.

#include <cstddef>
#include <iterator>
#include <stdexcept>

namespace test {

/// An endless input range that counts how many elements were read, and
/// throws `std::length_error` when element `fail_at` is read.
class Counting {
public:
  class iterator {
  public:
    using value_type = int;
    using difference_type = std::ptrdiff_t;
    iterator() = default;
    explicit iterator(Counting* owner) : owner_(owner) {}
    int operator*() const {
      if (value_ == owner_->fail_at) {
        throw std::length_error("input failed");
      }
      ++owner_->reads;
      return value_;
    }
    iterator& operator++() {
      ++value_;
      return *this;
    }
    iterator operator++(int) {
      auto old = *this;
      ++value_;
      return old;
    }
    friend bool operator==(const iterator&, std::unreachable_sentinel_t) {
      return false;
    }

  private:
    Counting* owner_ = nullptr;
    int value_ = 0;
  };
  iterator begin() { return iterator(this); }
  std::unreachable_sentinel_t end() const { return {}; }
  int reads = 0;
  int fail_at = -1;
};

} // namespace test
