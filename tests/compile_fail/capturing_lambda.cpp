// Must not compile: a lambda that captures a pointer cannot cross to a
// worker process.
#include <concurrent/futures/process.hpp>

int main() {
  concurrent::futures::ProcessPoolExecutor pool(1);
  int value = 1;
  int* pointer = &value;
  return pool.submit([pointer] { return *pointer; }).result();
}
