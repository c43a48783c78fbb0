#!/usr/bin/env bash
# Builds the libFuzzer target native/fuzz/fuzz_network.cc (clang, ASan + UBSan) into build-fuzz/
# and runs it on a working corpus seeded from test/fixtures/fuzz/network/ (issue 6).
#   scripts/fuzz-native.sh [libFuzzer flags...]   e.g. -max_total_time=60, -runs=1000000
# Crashes, timeouts and oversized allocations are written to build-fuzz/artifacts/; reproduce one
# with ./build-fuzz/pathwise_fuzz_network <file>. -malloc_limit_mb catches an allocation sized from
# an unchecked number; LeakSanitizer is on.
set -uo pipefail
cd "$(dirname "$0")/.."
command -v clang++ >/dev/null || { echo "fuzz-native: clang++ is needed (apt-get install clang libclang-rt-14-dev)"; exit 2; }
cmake -S . -B build-fuzz -G Ninja -DCMAKE_CXX_COMPILER=clang++ -DPATHWISE_FUZZ=ON >/dev/null &&
  cmake --build build-fuzz --target pathwise_fuzz_network >/dev/null || { echo "fuzz-native: build failed"; exit 2; }
mkdir -p build-fuzz/corpus build-fuzz/artifacts
cp -n test/fixtures/fuzz/network/* build-fuzz/corpus/ 2>/dev/null || true
[ $# -eq 0 ] && set -- -max_total_time=60
exec ./build-fuzz/pathwise_fuzz_network -timeout=10 -malloc_limit_mb=512 -rss_limit_mb=2048 -print_final_stats=1 \
  -artifact_prefix=build-fuzz/artifacts/ "$@" build-fuzz/corpus
