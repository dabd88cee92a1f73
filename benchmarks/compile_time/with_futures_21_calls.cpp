// Compile-time probe: the umbrella header and 21 submitted calls of distinct
// types. Against with_futures.cpp it gives what each further kind of call
// costs a file (every lambda is a new type, so a new task state).
#include <concurrent/futures.hpp>

int main() {
  concurrent::futures::ThreadPoolExecutor pool(1);
  int sum = 0;
  sum += pool.submit([] { return 0; }).result();
  sum += pool.submit([] { return 1; }).result();
  sum += pool.submit([] { return 2; }).result();
  sum += pool.submit([] { return 3; }).result();
  sum += pool.submit([] { return 4; }).result();
  sum += pool.submit([] { return 5; }).result();
  sum += pool.submit([] { return 6; }).result();
  sum += pool.submit([] { return 7; }).result();
  sum += pool.submit([] { return 8; }).result();
  sum += pool.submit([] { return 9; }).result();
  sum += pool.submit([] { return 10; }).result();
  sum += pool.submit([] { return 11; }).result();
  sum += pool.submit([] { return 12; }).result();
  sum += pool.submit([] { return 13; }).result();
  sum += pool.submit([] { return 14; }).result();
  sum += pool.submit([] { return 15; }).result();
  sum += pool.submit([] { return 16; }).result();
  sum += pool.submit([] { return 17; }).result();
  sum += pool.submit([] { return 18; }).result();
  sum += pool.submit([] { return 19; }).result();
  sum += pool.submit([] { return 20; }).result();
  return sum == 210 ? 0 : 1;
}
