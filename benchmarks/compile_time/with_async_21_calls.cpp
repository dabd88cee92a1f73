// Compile-time probe: <future> and 21 std::async calls of distinct types,
// against with_async.cpp: what each further kind of call costs a file.
#include <future>
#include <thread>

int main() {
  int sum = 0;
  sum += std::async(std::launch::async, [] { return 0; }).get();
  sum += std::async(std::launch::async, [] { return 1; }).get();
  sum += std::async(std::launch::async, [] { return 2; }).get();
  sum += std::async(std::launch::async, [] { return 3; }).get();
  sum += std::async(std::launch::async, [] { return 4; }).get();
  sum += std::async(std::launch::async, [] { return 5; }).get();
  sum += std::async(std::launch::async, [] { return 6; }).get();
  sum += std::async(std::launch::async, [] { return 7; }).get();
  sum += std::async(std::launch::async, [] { return 8; }).get();
  sum += std::async(std::launch::async, [] { return 9; }).get();
  sum += std::async(std::launch::async, [] { return 10; }).get();
  sum += std::async(std::launch::async, [] { return 11; }).get();
  sum += std::async(std::launch::async, [] { return 12; }).get();
  sum += std::async(std::launch::async, [] { return 13; }).get();
  sum += std::async(std::launch::async, [] { return 14; }).get();
  sum += std::async(std::launch::async, [] { return 15; }).get();
  sum += std::async(std::launch::async, [] { return 16; }).get();
  sum += std::async(std::launch::async, [] { return 17; }).get();
  sum += std::async(std::launch::async, [] { return 18; }).get();
  sum += std::async(std::launch::async, [] { return 19; }).get();
  sum += std::async(std::launch::async, [] { return 20; }).get();
  return sum == 210 ? 0 : 1;
}
