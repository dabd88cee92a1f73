#pragma once
// Catch2 matchers the tests share.

#include "catch.hpp"

#include <exception>
#include <string>

#if CONCURRENT_FUTURES_CATCH2_MAJOR >= 3
#include <catch2/matchers/catch_matchers_predicate.hpp>
#endif

namespace test {

/// For CHECK_THROWS_MATCHES: the exception's what() contains `text`.
inline auto what_contains(const std::string& text) {
  return Catch::Matchers::Predicate<std::exception>(
      [text](const std::exception& e) {
        return std::string(e.what()).find(text) != std::string::npos;
      },
      "what() contains \"" + text + "\"");
}

} // namespace test
