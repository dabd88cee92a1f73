// Must not compile: a raw pointer cannot cross to a worker process.
#include <concurrent/futures/process.hpp>

int read_through(const int* p) { return *p; }

int main() {
  concurrent::futures::ProcessPoolExecutor pool(1);
  int value = 1;
  const int* pointer = &value;
  return pool.submit(read_through, pointer).result();
}
