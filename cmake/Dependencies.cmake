# Test dependencies, offline first: an installed Catch2 3, else an installed
# Catch2 2.13 (two calls, as each version file accepts only its own major
# version), else a download when CONCURRENT_FUTURES_FETCH_DEPS allows it.

find_package(Catch2 3 CONFIG QUIET)
if(NOT Catch2_FOUND)
  find_package(Catch2 2.13 CONFIG QUIET)
endif()

if(Catch2_FOUND)
  set(CONCURRENT_FUTURES_CATCH2_MAJOR ${Catch2_VERSION_MAJOR})
elseif(CONCURRENT_FUTURES_FETCH_DEPS)
  include(FetchContent)
  FetchContent_Declare(Catch2
    GIT_REPOSITORY https://github.com/catchorg/Catch2.git
    GIT_TAG v3.7.1
    GIT_SHALLOW TRUE)
  FetchContent_MakeAvailable(Catch2)
  list(APPEND CMAKE_MODULE_PATH "${catch2_SOURCE_DIR}/extras")
  set(CONCURRENT_FUTURES_CATCH2_MAJOR 3)
else()
  message(FATAL_ERROR
    "Catch2 (3.x or 2.13) was not found. Install it (Debian/Ubuntu: "
    "apt-get install catch2), point CMAKE_PREFIX_PATH at it, or configure with "
    "-DCONCURRENT_FUTURES_FETCH_DEPS=ON to download it.")
endif()
include(Catch)
