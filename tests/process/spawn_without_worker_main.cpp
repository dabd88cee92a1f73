// A program that uses StartMethod::spawn but forgot cf::worker_main: the
// pool must fail with a BrokenProcessPool that says what to add, not hang
// and not spawn without end. Exits 0 when it does.

#include <concurrent/futures/process.hpp>

#include <chrono>
#include <cstdio>
#include <string>

namespace cf = concurrent::futures;

int add(int a, int b) { return a + b; }

int main() {
  cf::ProcessPoolExecutor pool(
      {.max_workers = 1, .start_method = cf::StartMethod::spawn});
  try {
    pool.submit(add, 1, 2).result(std::chrono::seconds(60));
  } catch (const cf::BrokenProcessPool& e) {
    std::printf("BrokenProcessPool: %s\n", e.what());
    return std::string(e.what()).find("cf::worker_main(argc, argv)") !=
                   std::string::npos
               ? 0
               : 1;
  }
  std::puts("the call succeeded without worker_main?");
  return 1;
}
