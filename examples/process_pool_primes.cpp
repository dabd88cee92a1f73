// Python's ProcessPoolExecutor example: which of some large numbers are
// prime, checked in worker processes, with the wall time against a serial
// loop.
//
//   with concurrent.futures.ProcessPoolExecutor() as executor:
//       for number, prime in zip(PRIMES, executor.map(is_prime, PRIMES)):
//           print('%d is prime: %s' % (number, prime))

#include <concurrent/futures.hpp>

#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <vector>

namespace cf = concurrent::futures;

const std::vector<std::int64_t> PRIMES = {112272535095293, 112582705942171,
                                          112272535095293, 115280095190773,
                                          115797848077099, 1099726899285419};

bool is_prime(std::int64_t n) {
  if (n < 2) {
    return false;
  }
  if (n == 2) {
    return true;
  }
  if (n % 2 == 0) {
    return false;
  }
  const auto sqrt_n = static_cast<std::int64_t>(std::floor(std::sqrt(n)));
  for (std::int64_t i = 3; i <= sqrt_n; i += 2) {
    if (n % i == 0) {
      return false;
    }
  }
  return true;
}

int main(int argc, char** argv) {
  cf::worker_main(argc, argv); // lets the pool use StartMethod::spawn too
  using clock = std::chrono::steady_clock;

  const auto serial_start = clock::now();
  std::vector<bool> serial;
  for (auto n : PRIMES) {
    serial.push_back(is_prime(n));
  }
  const std::chrono::duration<double> serial_time = clock::now() - serial_start;

  const auto pool_start = clock::now();
  {
    cf::ProcessPoolExecutor executor;
    std::size_t i = 0;
    for (bool prime : executor.map(is_prime, PRIMES)) {
      std::printf("%lld is prime: %s\n", static_cast<long long>(PRIMES[i]),
                  prime ? "True" : "False");
      if (prime != serial[i++]) {
        return 1;
      }
    }
  }
  const std::chrono::duration<double> pool_time = clock::now() - pool_start;
  std::fprintf(stderr,
               "serial loop: %.3f s; process pool (%d workers): %.3f s; "
               "speed-up %.2fx\n",
               serial_time.count(), cf::ProcessPoolExecutor().max_workers(),
               pool_time.count(), serial_time.count() / pool_time.count());
}
