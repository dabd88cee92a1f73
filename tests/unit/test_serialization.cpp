// The serialization layer: round trips, the transferable concept, and a
// decoder that never trusts its input.

#include "catch.hpp"

#include <concurrent/futures/serialization.hpp>

#include <array>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <tuple>
#include <unordered_map>
#include <unordered_set>
#include <variant>
#include <vector>

namespace cf = concurrent::futures;

namespace {

struct Point {
  double x = 0;
  double y = 0;
  std::string label;
  template <class Archive> void serialize(Archive& ar) { ar(x, y, label); }
  bool operator==(const Point&) const = default;
};

struct Shape {
  std::vector<Point> points;
  std::optional<Point> centre;
  template <class Archive> void serialize(Archive& ar) { ar(points, centre); }
  bool operator==(const Shape&) const = default;
};

enum class Colour : std::uint8_t { red = 1, green = 2 };
enum Plain : int { one = 1, big = 1 << 20 };
enum Unfixed { a_value = 1 };

int triple(int x) { return 3 * x; }

template <class T> T round_trip(const T& value) {
  return cf::deserialize<T>(cf::serialize(value));
}

using Everything =
    std::tuple<bool, char, signed char, unsigned char, short, int, long,
               long long, unsigned long long, float, double, long double,
               Colour, Plain, std::string, std::vector<int>,
               std::vector<std::string>, std::vector<bool>, std::array<int, 3>,
               std::pair<int, std::string>, std::optional<int>,
               std::optional<std::string>, std::variant<int, std::string>,
               std::map<std::string, int>, std::multimap<int, int>,
               std::unordered_map<int, std::vector<double>>, std::set<int>,
               std::multiset<std::string>, std::unordered_set<std::string>,
               std::monostate, Point, Shape>;

Everything sample() {
  return {true,
          'c',
          static_cast<signed char>(-5),
          static_cast<unsigned char>(250),
          static_cast<short>(-1234),
          -42,
          1L << 40,
          -(1LL << 60),
          ~0ULL,
          1.5F,
          -2.25,
          3.0L,
          Colour::green,
          big,
          std::string("h\0llo", 5),
          {1, -2, 3},
          {"a", "", "ccc"},
          {true, false, true},
          {7, 8, 9},
          {5, "five"},
          std::nullopt,
          std::string("present"),
          std::string("alt"),
          {{"x", 1}, {"y", 2}},
          {{1, 1}, {1, 2}},
          {{3, {0.5}}},
          {3, 1, 2},
          {"b", "a", "b"},
          {"u"},
          {},
          Point{1, 2, "p"},
          Shape{{Point{0, 0, "o"}, Point{1, 1, "i"}}, Point{0.5, 0.5, "c"}}};
}

} // namespace

TEST_CASE("every type SPEC.md lists survives a round trip", "[serialization]") {
  const Everything value = sample();
  CHECK(round_trip(value) == value);
}

TEST_CASE("values nest to any depth", "[serialization]") {
  using Deep = std::vector<
      std::map<std::string,
               std::optional<std::variant<std::tuple<int, std::vector<Point>>,
                                          std::set<std::pair<int, int>>>>>>;
  Deep deep{{{"k", std::tuple<int, std::vector<Point>>{1, {Point{}}}},
             {"n", std::nullopt}},
            {{"s", std::set<std::pair<int, int>>{{1, 2}}}}};
  CHECK(round_trip(deep) == deep);
}

TEST_CASE("a large vector of numbers travels as one block", "[serialization]") {
  std::vector<double> big(1 << 20);
  for (std::size_t i = 0; i < big.size(); ++i) {
    big[i] = static_cast<double>(i) * 0.5;
  }
  const std::string bytes = cf::serialize(big);
  CHECK(bytes.size() == big.size() * sizeof(double) + 3); // + LEB128 length
  CHECK(cf::deserialize<std::vector<double>>(bytes) == big);
}

TEST_CASE("vectors of one-number tuples travel as a block of numbers, byte "
          "for byte as element by element",
          "[serialization]") {
  // What a chunked map sends: one tuple per call. The block path must write
  // exactly what the element-wise codec writes, and check lengths as it does.
  const std::vector<std::tuple<std::int32_t>> calls{{1}, {-2}, {300}};
  cf::OutputArchive element_wise;
  element_wise.write_size(calls.size());
  for (const auto& call : calls) {
    element_wise(call);
  }
  const std::string bytes = cf::serialize(calls);
  CHECK(bytes == element_wise.bytes());
  CHECK(bytes.size() == 1 + 3 * sizeof(std::int32_t));
  CHECK(cf::deserialize<std::vector<std::tuple<std::int32_t>>>(bytes) == calls);
  for (std::size_t n = 0; n < bytes.size(); ++n) {
    CHECK_THROWS_AS(cf::deserialize<std::vector<std::tuple<std::int32_t>>>(
                        bytes.substr(0, n)),
                    cf::SerializationError);
  }
  const std::vector<std::tuple<double>> none;
  CHECK(cf::deserialize<std::vector<std::tuple<double>>>(cf::serialize(none))
            .empty());
}

TEST_CASE("function pointers and capture-less lambdas are transferable",
          "[serialization]") {
  int (*fn)(int) = triple;
  CHECK(round_trip(fn)(5) == 15);
  auto lambda = [](int x) { return x + 1; };
  STATIC_REQUIRE(cf::transferable<decltype(lambda)>);
  CHECK(round_trip(lambda)(1) == 2);
  CHECK_THROWS_AS(cf::serialize(static_cast<int (*)(int)>(nullptr)),
                  cf::SerializationError);
}

TEST_CASE("what cannot cross is not transferable", "[serialization]") {
  int local = 0;
  auto capturing = [&local] { return local; };
  auto capturing_pointer = [p = &local] { return *p; };
  STATIC_REQUIRE_FALSE(cf::transferable<decltype(capturing)>);
  STATIC_REQUIRE_FALSE(cf::transferable<decltype(capturing_pointer)>);
  STATIC_REQUIRE_FALSE(cf::transferable<int*>);
  STATIC_REQUIRE_FALSE(cf::transferable<const char*>);
  STATIC_REQUIRE_FALSE(cf::transferable<std::unique_ptr<int>>);
  STATIC_REQUIRE_FALSE(cf::transferable<std::function<int()>>);
  STATIC_REQUIRE_FALSE(cf::transferable<std::vector<int*>>);
  STATIC_REQUIRE_FALSE(
      cf::transferable<std::map<std::string, std::shared_ptr<int>>>);
  STATIC_REQUIRE_FALSE(cf::transferable<Unfixed>); // needs `: int`
  STATIC_REQUIRE(cf::transferable<const std::string>);
}

TEST_CASE("every truncation of a valid encoding throws SerializationError",
          "[serialization][fuzz]") {
  const std::string bytes = cf::serialize(sample());
  for (std::size_t n = 0; n < bytes.size(); ++n) {
    CHECK_THROWS_AS(cf::deserialize<Everything>(bytes.substr(0, n)),
                    cf::SerializationError);
  }
}

TEST_CASE("trailing bytes after a value throw SerializationError",
          "[serialization]") {
  CHECK_THROWS_AS(cf::deserialize<int>(cf::serialize(1) + "x"),
                  cf::SerializationError);
}

TEST_CASE("random and corrupted bytes give a value or SerializationError, "
          "never a crash",
          "[serialization][fuzz]") {
  std::mt19937_64 rng(7);
  const std::string valid = cf::serialize(sample());
  int errors = 0;
  for (int i = 0; i < 20000; ++i) {
    std::string bytes;
    if (i % 2 == 0) { // random bytes
      bytes.resize(rng() % 64);
      for (auto& c : bytes) {
        c = static_cast<char>(rng());
      }
    } else { // a valid encoding with a few bytes flipped
      bytes = valid;
      for (int flips = 0; flips < 3; ++flips) {
        bytes[rng() % bytes.size()] ^= static_cast<char>(1 + rng() % 255);
      }
    }
    try {
      (void)cf::deserialize<Everything>(bytes);
      (void)cf::deserialize<std::vector<std::string>>(bytes);
      (void)cf::deserialize<std::map<int, std::variant<int, Shape>>>(bytes);
    } catch (const cf::SerializationError&) {
      ++errors;
    }
    // Any other exception (std::bad_alloc from a forged length, say) fails
    // the test by escaping.
  }
  CHECK(errors > 0);
}

TEST_CASE("a forged length cannot make the decoder allocate",
          "[serialization]") {
  cf::OutputArchive out;
  out.write_size(std::uint64_t{1} << 40); // a trillion elements, no data
  const std::string forged = std::move(out).bytes();
  CHECK_THROWS_AS(cf::deserialize<std::vector<double>>(forged),
                  cf::SerializationError);
  CHECK_THROWS_AS(cf::deserialize<std::string>(forged), cf::SerializationError);
  CHECK_THROWS_AS(cf::deserialize<std::vector<std::monostate>>(forged),
                  cf::SerializationError);
  CHECK_THROWS_AS(cf::deserialize<std::set<int>>(forged),
                  cf::SerializationError);
  CHECK_THROWS_AS(cf::deserialize<std::vector<int>>(std::string(11, '\xff')),
                  cf::SerializationError); // a length of more than 64 bits
}

TEST_CASE("invalid tags throw SerializationError", "[serialization]") {
  CHECK_THROWS_AS(cf::deserialize<bool>(std::string(1, '\2')),
                  cf::SerializationError);
  CHECK_THROWS_AS(cf::deserialize<std::optional<int>>(std::string(1, '\7')),
                  cf::SerializationError);
  using IntOrDouble = std::variant<int, double>;
  CHECK_THROWS_AS(cf::deserialize<IntOrDouble>(std::string(1, '\2')),
                  cf::SerializationError);
}

TEST_CASE("a forged function address is refused", "[serialization]") {
  using Fn = int (*)(int);
  cf::OutputArchive outside;
  outside(std::string()).write_size(std::uint64_t{1} << 50); // beyond <main>
  CHECK_THROWS_AS(cf::deserialize<Fn>(std::move(outside).bytes()),
                  cf::SerializationError);
  cf::OutputArchive unknown;
  unknown(std::string("/no/such/module.so")).write_size(16);
  CHECK_THROWS_AS(cf::deserialize<Fn>(std::move(unknown).bytes()),
                  cf::SerializationError);
}
