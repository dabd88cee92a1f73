// Compile-time probe: the library's umbrella header and one submitted task.
#include <concurrent/futures.hpp>

int main() {
  concurrent::futures::ThreadPoolExecutor pool(1);
  return pool.submit([] { return 42; }).result() == 42 ? 0 : 1;
}
