#pragma once
/// \file
/// The library's version: the one source of truth, parsed by CMake.

#define CONCURRENT_FUTURES_VERSION_MAJOR 0
#define CONCURRENT_FUTURES_VERSION_MINOR 1
#define CONCURRENT_FUTURES_VERSION_PATCH 0

/// Encoded as MAJOR * 10000 + MINOR * 100 + PATCH, for `#if` checks.
#define CONCURRENT_FUTURES_VERSION                                             \
  (CONCURRENT_FUTURES_VERSION_MAJOR * 10000 +                                  \
   CONCURRENT_FUTURES_VERSION_MINOR * 100 + CONCURRENT_FUTURES_VERSION_PATCH)
