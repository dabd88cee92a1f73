// A user's program: one submit through each way of getting the library.
#include <concurrent/futures.hpp>

namespace cf = concurrent::futures;

int main() {
  cf::ThreadPoolExecutor pool(2);
  auto f = pool.submit([](int a, int b) { return a * b; }, 6, 7);
  return f.result() == 42 ? 0 : 1;
}
