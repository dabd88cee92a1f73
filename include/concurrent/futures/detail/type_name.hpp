#pragma once
// Readable type names: for ExecutionFailed messages and task fingerprints.

#include <cstdint>
#include <cstdlib>
#include <memory>
#include <string>
#include <string_view>
#include <typeinfo>

#if defined(__GNUG__)
#include <cxxabi.h>
#endif

namespace concurrent::futures::detail {

inline std::string demangle(const char* mangled) {
#if defined(__GNUG__)
  int status = 0;
  std::unique_ptr<char, void (*)(void*)> name(
      abi::__cxa_demangle(mangled, nullptr, nullptr, &status), std::free);
  if (status == 0 && name) {
    return name.get();
  }
#endif
  return mangled;
}

/// The compiler's spelling of the template arguments, in a string that
/// depends only on the types.
template <class... Ts> constexpr std::string_view signature_of() {
#if defined(__clang__) || defined(__GNUC__)
  return __PRETTY_FUNCTION__;
#else
  return __FUNCSIG__;
#endif
}

/// FNV-1a of the types' spelling: the same in every process running the same
/// binary, and different for different types (lambdas aside, which GCC may
/// spell alike; their code address still tells them apart).
template <class... Ts> constexpr std::uint64_t fingerprint() {
  std::uint64_t hash = 0xcbf29ce484222325ULL;
  for (const char c : signature_of<Ts...>()) {
    hash = (hash ^ static_cast<unsigned char>(c)) * 0x100000001b3ULL;
  }
  return hash;
}

} // namespace concurrent::futures::detail
