// Compile-time probe: oneTBB's task_group (no futures; the benchmarks' oneTBB
// baseline) and one task. Timed only where oneTBB is installed.
#define CF_BENCH_HAVE_TBB
#include "../baselines.hpp"

int main() {
  bench::TbbGroup group(1);
  int result = 0;
  group.run([&result] { result = 42; });
  group.wait();
  return result == 42 ? 0 : 1;
}
