// Compile-time probe: the thread pool's own header, for a program that needs
// nothing else, and one submitted task.
#include <concurrent/futures/thread.hpp>

int main() {
  concurrent::futures::ThreadPoolExecutor pool(1);
  return pool.submit([] { return 42; }).result() == 42 ? 0 : 1;
}
