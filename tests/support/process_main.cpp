// main() for test programs whose pools may spawn workers: a spawned worker
// re-executes this binary, and worker_main must run before Catch2 sees the
// arguments.
#if CONCURRENT_FUTURES_CATCH2_MAJOR >= 3
#include <catch2/catch_session.hpp>
#else
#define CATCH_CONFIG_RUNNER
#include <catch2/catch.hpp>
#endif

#include <concurrent/futures/process.hpp>

int main(int argc, char** argv) {
  concurrent::futures::worker_main(argc, argv);
  return Catch::Session().run(argc, argv);
}
