# Warnings for the project's own targets only; never exported to users.
add_library(concurrent_futures_warnings INTERFACE)
target_compile_options(concurrent_futures_warnings INTERFACE
  -Wall -Wextra -Wpedantic -Werror)
