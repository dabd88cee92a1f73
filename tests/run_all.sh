#!/bin/sh
# Installs what the test suite needs (Debian/Ubuntu) and runs the whole suite
# in every CI configuration: optimised, ThreadSanitizer, and AddressSanitizer
# + UndefinedBehaviorSanitizer, each with g++ and with clang++.
set -eu
cd "$(dirname "$0")/.."

packages="cmake ninja-build g++ clang catch2 libclang-rt-14-dev libbenchmark-dev libtbb-dev libasio-dev python3"
missing=""
for p in $packages; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing="$missing $p"
done
if [ -n "$missing" ]; then
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update
  $sudo apt-get install -y --no-install-recommends $missing
fi

passed=0
failed=0
for preset in release-gcc release-clang tsan-gcc tsan-clang asan-ubsan-gcc asan-ubsan-clang; do
  echo "=== $preset ==="
  log="build/$preset.log"
  mkdir -p build
  if cmake --workflow --preset "$preset" 2>&1 | tee "$log"; then :; fi
  summary=$(grep -E 'tests passed, [0-9]+ tests? failed out of' "$log" | tail -n 1 || true)
  if [ -z "$summary" ]; then
    echo "$preset: configure or build failed"
    failed=$((failed + 1))
    continue
  fi
  total=$(echo "$summary" | sed -E 's/.* out of ([0-9]+).*/\1/')
  bad=$(echo "$summary" | sed -E 's/.* ([0-9]+) tests? failed.*/\1/')
  passed=$((passed + total - bad))
  failed=$((failed + bad))
done
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
