// Python's documentation, the first Executor.submit example:
//
//   with ThreadPoolExecutor(max_workers=1) as executor:
//       future = executor.submit(pow, 323, 1235)
//       print(future.result())
//
// Python's integers have no size limit, so pow(323, 1235) is a 3,099-digit
// number; a small decimal big-number power prints the same digits here.

#include <concurrent/futures.hpp>

#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

namespace cf = concurrent::futures;

std::string pow(std::uint32_t base, unsigned exponent) {
  constexpr std::uint64_t radix = 1'000'000'000; // nine decimal digits a limb
  std::vector<std::uint32_t> limbs{1};           // least significant first
  for (unsigned i = 0; i < exponent; ++i) {
    std::uint64_t carry = 0;
    for (auto& limb : limbs) {
      const std::uint64_t v = std::uint64_t{limb} * base + carry;
      limb = static_cast<std::uint32_t>(v % radix);
      carry = v / radix;
    }
    for (; carry != 0; carry /= radix) {
      limbs.push_back(static_cast<std::uint32_t>(carry % radix));
    }
  }
  std::string digits = std::to_string(limbs.back());
  for (auto it = limbs.rbegin() + 1; it != limbs.rend(); ++it) {
    const std::string part = std::to_string(*it);
    digits += std::string(9 - part.size(), '0') + part;
  }
  return digits;
}

int main() {
  cf::ThreadPoolExecutor executor(1);
  auto future = executor.submit(pow, 323, 1235);
  std::printf("%s\n", future.result().c_str());
}
