// Compile-time probe: what the standard library offers for the same job.
#include <future>
#include <thread>

int main() {
  return std::async(std::launch::async, [] { return 42; }).get() == 42 ? 0 : 1;
}
