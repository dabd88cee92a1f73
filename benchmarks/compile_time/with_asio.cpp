// Compile-time probe: Asio's thread_pool with a std::packaged_task per call
// (the benchmarks' Asio baseline) and one submitted task. Timed only where
// Asio is installed.
#define CF_BENCH_HAVE_ASIO
#include "../baselines.hpp"

int main() {
  bench::AsioPool pool(1);
  return pool.submit([] { return 42; }).get() == 42 ? 0 : 1;
}
