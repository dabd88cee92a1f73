#pragma once
/// \file
/// The library's `pickle`: a compact binary encoding of the values that cross
/// to another process or worker context, and the `transferable` concept that
/// says which types can.
///
/// Transferable: arithmetic types, enums with a fixed underlying type,
/// `std::string`, `std::vector`,
/// `std::array`, `std::pair`, `std::tuple`, `std::optional`, `std::variant`,
/// `std::monostate`, the standard maps and sets, nested to any depth;
/// function pointers; empty default-constructible classes (capture-less
/// lambdas); and user types with a member
///
/// \code
///   struct Point {
///     double x, y;
///     template <class Archive> void serialize(Archive& ar) { ar(x, y); }
///   };
/// \endcode
///
/// Decoding never trusts its input: truncated or corrupted bytes throw
/// `SerializationError`, never read out of bounds, and a forged length cannot
/// make it allocate more than the input could hold.

#include <concurrent/futures/detail/code_address.hpp>
#include <concurrent/futures/errors.hpp>

#include <array>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <tuple>
#include <type_traits>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <variant>
#include <vector>

namespace concurrent::futures {

class OutputArchive;
class InputArchive;

/// How a type is written and read: specialise it for a type you cannot give
/// a `serialize` member (`static void encode(OutputArchive&, const T&)` and
/// `static T decode(InputArchive&)`; `min_size` bounds decoding).
template <class T> struct Codec { static constexpr bool enabled = false; };

/// Whether values of `T` can cross to another process or worker context.
template <class T>
concept transferable = Codec<std::remove_cv_t<T>>::enabled;

/// Writes values as bytes. User `serialize` members receive it as `ar`.
class OutputArchive {
public:
  OutputArchive() = default;
  /// Writes over `buffer`, reusing its storage.
  explicit OutputArchive(std::string buffer) noexcept
      : bytes_(std::move(buffer)) {
    bytes_.clear();
  }

  /// Appends each value.
  template <class... Ts>
  requires(transferable<Ts>&&...) OutputArchive&
  operator()(const Ts&... values) {
    (Codec<std::remove_cv_t<Ts>>::encode(*this, values), ...);
    return *this;
  }

  void write_bytes(const void* data, std::size_t size) {
    if (size == 0) {
      return; // `data` may be null (an empty vector's data())
    }
    bytes_.append(static_cast<const char*>(data), size);
  }
  /// `size` more bytes at the end, for the caller to fill at once.
  char* extend(std::size_t size) {
    const std::size_t at = bytes_.size();
    bytes_.resize(at + size);
    return bytes_.data() + at;
  }
  void write_size(std::uint64_t n) { // LEB128
    do {
      auto byte = static_cast<unsigned char>(n & 0x7f);
      n >>= 7;
      if (n != 0) {
        byte |= 0x80;
      }
      bytes_.push_back(static_cast<char>(byte));
    } while (n != 0);
  }

  [[nodiscard]] const std::string& bytes() const& noexcept { return bytes_; }
  [[nodiscard]] std::string bytes() && noexcept { return std::move(bytes_); }

private:
  std::string bytes_;
};

/// Reads values back, checking every length against what is left.
class InputArchive {
public:
  explicit InputArchive(std::string_view bytes) noexcept : rest_(bytes) {}

  /// Reads into each value, in order.
  template <class... Ts>
  requires(transferable<Ts>&&...) InputArchive& operator()(Ts&... values) {
    ((values = Codec<std::remove_cv_t<Ts>>::decode(*this)), ...);
    return *this;
  }

  /// Reads one value of type T.
  template <transferable T> T read() { return Codec<T>::decode(*this); }

  void read_bytes(void* out, std::size_t size) {
    need(size);
    if (size == 0) {
      return; // `out` may be null (an empty vector's data())
    }
    std::memcpy(out, rest_.data(), size);
    rest_.remove_prefix(size);
  }
  std::string_view take(std::size_t size) {
    need(size);
    auto taken = rest_.substr(0, size);
    rest_.remove_prefix(size);
    return taken;
  }
  std::uint64_t read_size() {
    std::uint64_t n = 0;
    for (int shift = 0; shift < 64; shift += 7) {
      need(1);
      const auto byte = static_cast<unsigned char>(rest_.front());
      rest_.remove_prefix(1);
      if (shift == 63 && (byte & 0x7e) != 0) {
        break; // more than 64 bits
      }
      n |= std::uint64_t{byte & 0x7fu} << shift;
      if ((byte & 0x80) == 0) {
        return n;
      }
    }
    throw SerializationError("corrupted data: length does not fit 64 bits");
  }
  /// A count of elements at least `min_size` bytes each, checked against
  /// what is left (elements of size 0 are capped at 2^24).
  std::size_t read_count(std::size_t min_size) {
    const std::uint64_t n = read_size();
    const std::uint64_t limit =
        min_size == 0 ? (std::uint64_t{1} << 24) : rest_.size() / min_size;
    if (n > limit) {
      throw SerializationError("corrupted data: " + std::to_string(n) +
                               " elements cannot fit in " +
                               std::to_string(rest_.size()) + " bytes");
    }
    return static_cast<std::size_t>(n);
  }

  [[nodiscard]] std::size_t remaining() const noexcept { return rest_.size(); }
  [[nodiscard]] bool at_end() const noexcept { return rest_.empty(); }

private:
  void need(std::size_t size) const {
    if (size > rest_.size()) {
      throw SerializationError("truncated data: need " + std::to_string(size) +
                               " bytes, " + std::to_string(rest_.size()) +
                               " left");
    }
  }

  std::string_view rest_;
};

/// `value` as bytes.
template <transferable T> std::string serialize(const T& value) {
  OutputArchive out;
  out(value);
  return std::move(out).bytes();
}

/// The value `bytes` encode; `SerializationError` if they do not encode
/// exactly one `T`.
template <transferable T> T deserialize(std::string_view bytes) {
  InputArchive in(bytes);
  T value = in.read<T>();
  if (!in.at_end()) {
    throw SerializationError(
        "corrupted data: " + std::to_string(in.remaining()) +
        " bytes left after the value");
  }
  return value;
}

namespace detail {

template <class T>
concept number = std::is_arithmetic_v<T> && !std::same_as<T, bool>;

/// A type that crosses as exactly the bytes of one number, and how to reach
/// that number: vectors of them travel as one block of numbers, with no
/// per-element bookkeeping (the bytes are the same as element by element).
template <class T> struct OneNumber {};
template <number T> struct OneNumber<std::tuple<T>> {
  using type = T;
  static auto& get(auto& t) { return std::get<0>(t); }
};

template <class T> constexpr std::size_t min_size() {
  if constexpr (requires { Codec<T>::min_size; }) {
    return Codec<T>::min_size;
  } else {
    return 0;
  }
}

template <class T> struct is_std_array : std::false_type {};
template <class T, std::size_t N>
struct is_std_array<std::array<T, N>> : std::true_type {};

template <class T>
concept has_serialize_member = std::is_class_v<T> &&
    std::default_initializable<T> &&
    requires(T& t, OutputArchive& out, InputArchive& in) {
  t.serialize(out);
  t.serialize(in);
};

template <class T>
concept stateless_class = std::is_class_v<T> && std::is_empty_v<T> &&
    std::default_initializable<T> && !has_serialize_member<T>;

template <class T>
concept function_pointer =
    std::is_pointer_v<T> && std::is_function_v<std::remove_pointer_t<T>>;

/// Element-wise codec of the sequence and associative containers.
template <class C, class Element> struct ContainerCodec {
  static constexpr bool enabled = true;
  static constexpr std::size_t min_size = 1;
  static void encode(OutputArchive& out, const C& c) {
    out.write_size(c.size());
    for (const auto& element : c) {
      Codec<Element>::encode(out, element);
    }
  }
  static C decode(InputArchive& in) {
    const std::size_t n = in.read_count(detail::min_size<Element>());
    C c;
    if constexpr (requires { c.reserve(n); }) {
      c.reserve(n);
    }
    for (std::size_t i = 0; i < n; ++i) {
      if constexpr (requires { c.push_back(Codec<Element>::decode(in)); }) {
        c.push_back(Codec<Element>::decode(in));
      } else {
        c.insert(Codec<Element>::decode(in));
      }
    }
    return c;
  }
};

} // namespace detail

// --- the types SPEC.md lists ---------------------------------------------

template <detail::number T> struct Codec<T> {
  static constexpr bool enabled = true;
  static constexpr std::size_t min_size = sizeof(T);
  static void encode(OutputArchive& out, const T& v) {
    out.write_bytes(&v, sizeof v);
  }
  static T decode(InputArchive& in) {
    T v;
    in.read_bytes(&v, sizeof v);
    return v;
  }
};

template <> struct Codec<bool> {
  static constexpr bool enabled = true;
  static constexpr std::size_t min_size = 1;
  static void encode(OutputArchive& out, bool v) {
    const char byte = v ? 1 : 0;
    out.write_bytes(&byte, 1);
  }
  static bool decode(InputArchive& in) {
    char byte = 0;
    in.read_bytes(&byte, 1);
    if (byte != 0 && byte != 1) {
      throw SerializationError("corrupted data: bad bool");
    }
    return byte == 1;
  }
};

/// Enums with a fixed underlying type (every `enum class`, and `enum E :
/// int`): any value of that type is a valid enum value, so whatever arrives
/// can be held. An unscoped enum without one may not hold values outside its
/// enumerators' range, so it is not transferable: give it an underlying type.
template <class T>
requires std::is_enum_v<T> && requires { T{std::underlying_type_t<T>{}}; }
struct Codec<T> {
  using U = std::underlying_type_t<T>;
  static constexpr bool enabled = true;
  static constexpr std::size_t min_size = sizeof(U);
  static void encode(OutputArchive& out, const T& v) {
    Codec<U>::encode(out, static_cast<U>(v));
  }
  static T decode(InputArchive& in) {
    return static_cast<T>(Codec<U>::decode(in));
  }
};

template <> struct Codec<std::string> {
  static constexpr bool enabled = true;
  static constexpr std::size_t min_size = 1;
  static void encode(OutputArchive& out, const std::string& s) {
    out.write_size(s.size());
    out.write_bytes(s.data(), s.size());
  }
  static std::string decode(InputArchive& in) {
    const std::size_t n = in.read_count(1);
    return std::string(in.take(n));
  }
};

template <> struct Codec<std::monostate> {
  static constexpr bool enabled = true;
  static void encode(OutputArchive&, const std::monostate&) {}
  static std::monostate decode(InputArchive&) { return {}; }
};

template <transferable T, class A>
struct Codec<std::vector<T, A>> : detail::ContainerCodec<std::vector<T, A>, T> {
  using Base = detail::ContainerCodec<std::vector<T, A>, T>;
  using Wrapper = detail::OneNumber<T>;
  static void encode(OutputArchive& out, const std::vector<T, A>& v) {
    if constexpr (detail::number<T>) {
      // One block: a 64 MiB vector is one copy each way.
      out.write_size(v.size());
      out.write_bytes(v.data(), v.size() * sizeof(T));
    } else if constexpr (requires { typename Wrapper::type; }) {
      constexpr std::size_t size = sizeof(typename Wrapper::type);
      out.write_size(v.size());
      char* to = out.extend(v.size() * size);
      for (const T& element : v) {
        std::memcpy(to, &Wrapper::get(element), size);
        to += size;
      }
    } else {
      Base::encode(out, v);
    }
  }
  static std::vector<T, A> decode(InputArchive& in) {
    if constexpr (detail::number<T>) {
      std::vector<T, A> v(in.read_count(sizeof(T)));
      in.read_bytes(v.data(), v.size() * sizeof(T));
      return v;
    } else if constexpr (requires { typename Wrapper::type; }) {
      using N = typename Wrapper::type;
      const std::size_t n = in.read_count(sizeof(N));
      const char* from = in.take(n * sizeof(N)).data();
      std::vector<T, A> v(n); // then filled in place: a plain copy loop
      for (T& element : v) {
        std::memcpy(&Wrapper::get(element), from, sizeof(N));
        from += sizeof(N);
      }
      return v;
    } else {
      return Base::decode(in);
    }
  }
};

template <transferable K, transferable V, class C, class A>
struct Codec<std::map<K, V, C, A>>
    : detail::ContainerCodec<std::map<K, V, C, A>, std::pair<const K, V>> {};
template <transferable K, transferable V, class C, class A>
struct Codec<std::multimap<K, V, C, A>>
    : detail::ContainerCodec<std::multimap<K, V, C, A>, std::pair<const K, V>> {
};
template <transferable K, transferable V, class H, class E, class A>
struct Codec<std::unordered_map<K, V, H, E, A>>
    : detail::ContainerCodec<std::unordered_map<K, V, H, E, A>,
                             std::pair<const K, V>> {};
template <transferable K, transferable V, class H, class E, class A>
struct Codec<std::unordered_multimap<K, V, H, E, A>>
    : detail::ContainerCodec<std::unordered_multimap<K, V, H, E, A>,
                             std::pair<const K, V>> {};
template <transferable K, class C, class A>
struct Codec<std::set<K, C, A>> : detail::ContainerCodec<std::set<K, C, A>, K> {
};
template <transferable K, class C, class A>
struct Codec<std::multiset<K, C, A>>
    : detail::ContainerCodec<std::multiset<K, C, A>, K> {};
template <transferable K, class H, class E, class A>
struct Codec<std::unordered_set<K, H, E, A>>
    : detail::ContainerCodec<std::unordered_set<K, H, E, A>, K> {};
template <transferable K, class H, class E, class A>
struct Codec<std::unordered_multiset<K, H, E, A>>
    : detail::ContainerCodec<std::unordered_multiset<K, H, E, A>, K> {};

template <transferable T, std::size_t N> struct Codec<std::array<T, N>> {
  static constexpr bool enabled = true;
  static constexpr std::size_t min_size = N * detail::min_size<T>();
  static void encode(OutputArchive& out, const std::array<T, N>& a) {
    for (const auto& element : a) {
      Codec<T>::encode(out, element);
    }
  }
  static std::array<T, N> decode(InputArchive& in) {
    std::array<T, N> a{};
    for (auto& element : a) {
      element = Codec<T>::decode(in);
    }
    return a;
  }
};

template <transferable A, transferable B> struct Codec<std::pair<A, B>> {
  static constexpr bool enabled = true;
  static constexpr std::size_t min_size =
      detail::min_size<A>() + detail::min_size<B>();
  static void encode(OutputArchive& out, const std::pair<A, B>& p) {
    Codec<std::remove_cv_t<A>>::encode(out, p.first);
    Codec<std::remove_cv_t<B>>::encode(out, p.second);
  }
  static std::pair<A, B> decode(InputArchive& in) {
    // Braced: the first element is read first.
    return std::pair<A, B>{Codec<std::remove_cv_t<A>>::decode(in),
                           Codec<std::remove_cv_t<B>>::decode(in)};
  }
};

template <transferable... Ts> struct Codec<std::tuple<Ts...>> {
  static constexpr bool enabled = true;
  static constexpr std::size_t min_size = (detail::min_size<Ts>() + ... + 0);
  static void encode(OutputArchive& out, const std::tuple<Ts...>& t) {
    std::apply([&](const Ts&... v) { (Codec<Ts>::encode(out, v), ...); }, t);
  }
  static std::tuple<Ts...> decode(InputArchive& in) {
    return std::tuple<Ts...>{Codec<Ts>::decode(in)...}; // braces: in order
  }
};

template <transferable T> struct Codec<std::optional<T>> {
  static constexpr bool enabled = true;
  static constexpr std::size_t min_size = 1;
  static void encode(OutputArchive& out, const std::optional<T>& o) {
    Codec<bool>::encode(out, o.has_value());
    if (o) {
      Codec<T>::encode(out, *o);
    }
  }
  static std::optional<T> decode(InputArchive& in) {
    if (!Codec<bool>::decode(in)) {
      return std::nullopt;
    }
    return Codec<T>::decode(in);
  }
};

template <transferable... Ts> struct Codec<std::variant<Ts...>> {
  static constexpr bool enabled = true;
  static constexpr std::size_t min_size = 1;
  static void encode(OutputArchive& out, const std::variant<Ts...>& v) {
    if (v.valueless_by_exception()) {
      throw SerializationError("cannot send a valueless variant");
    }
    out.write_size(v.index());
    std::visit(
        [&](const auto& alternative) {
          using A = std::remove_cvref_t<decltype(alternative)>;
          Codec<A>::encode(out, alternative);
        },
        v);
  }
  static std::variant<Ts...> decode(InputArchive& in) {
    const std::uint64_t index = in.read_size();
    if (index >= sizeof...(Ts)) {
      throw SerializationError("corrupted data: variant index out of range");
    }
    return decode_at(in, static_cast<std::size_t>(index),
                     std::index_sequence_for<Ts...>{});
  }

private:
  template <std::size_t... I>
  static std::variant<Ts...> decode_at(InputArchive& in, std::size_t index,
                                       std::index_sequence<I...>) {
    std::variant<Ts...> result;
    using V = std::variant<Ts...>;
    const bool decoded =
        ((index == I
              ? (result.template emplace<I>(
                     Codec<std::variant_alternative_t<I, V>>::decode(in)),
                 true)
              : false) ||
         ...);
    (void)decoded; // index < sizeof...(Ts) was checked
    return result;
  }
};

// --- callables and user types ----------------------------------------------

/// A function pointer travels as its place in its module (see
/// detail/code_address.hpp) and is checked to point into code on arrival.
template <class T>
requires detail::function_pointer<T>
struct Codec<T> {
  static constexpr bool enabled = true;
  static constexpr std::size_t min_size = 2;
  static void encode(OutputArchive& out, T fn) {
    if (fn == nullptr) {
      throw SerializationError("cannot send a null function pointer");
    }
    const auto where = detail::locate(reinterpret_cast<const void*>(fn));
    Codec<std::string>::encode(out, where.module);
    out.write_size(where.offset);
  }
  static T decode(InputArchive& in) {
    detail::CodeAddress where;
    where.module = Codec<std::string>::decode(in);
    where.offset = in.read_size();
    return reinterpret_cast<T>(const_cast<void*>(detail::resolve(where, true)));
  }
};

/// Capture-less lambdas and other empty classes: nothing to send; the
/// receiver makes a fresh one.
template <class T>
requires detail::stateless_class<T> &&
    (!std::same_as<T, std::monostate>)struct Codec<T> {
  static constexpr bool enabled = true;
  static void encode(OutputArchive&, const T&) {}
  static T decode(InputArchive&) { return T{}; }
};

/// Types with `template <class Archive> void serialize(Archive& ar)`.
template <class T>
requires detail::has_serialize_member<T> &&
    (!detail::is_std_array<T>::value) struct Codec<T> {
  static constexpr bool enabled = true;
  static void encode(OutputArchive& out, const T& v) {
    // serialize() only reads the fields when given an OutputArchive.
    const_cast<T&>(v).serialize(out);
  }
  static T decode(InputArchive& in) {
    T v{};
    v.serialize(in);
    return v;
  }
};

} // namespace concurrent::futures
