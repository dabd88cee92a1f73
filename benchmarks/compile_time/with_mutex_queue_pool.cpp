// Compile-time probe: the textbook pool a user would write instead (the
// benchmarks' own baseline, a std::mutex queue of std::packaged_task) and
// one submitted task: what the smallest pool with futures costs a file.
#include "../baselines.hpp"

int main() {
  bench::MutexQueuePool pool(1);
  return pool.submit([] { return 42; }).get() == 42 ? 0 : 1;
}
