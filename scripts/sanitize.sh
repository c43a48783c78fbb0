#!/usr/bin/env bash
# AddressSanitizer + UndefinedBehaviorSanitizer runs (issue 6): builds the core test binary and the
# addon with -DPATHWISE_SANITIZE=ON (g++) into build-asan/, runs the core tests, then runs vitest
# with the sanitized addon. Any sanitizer report aborts the process that hit it, so it fails the run.
#
#   scripts/sanitize.sh [vitest args...]   default: the whole suite but test/package (packs and
#   installs a tarball), test/report.test.ts (Chromium does not start with the ASan runtime
#   preloaded) and test/reliability-resources.test.ts and reliability-leaks.test.ts (RSS means nothing under ASan)
#
# The recipe for a sanitized .node in an unsanitized node: the ASan runtime must be the first
# library loaded, so it is preloaded; node's own allocations at exit are not ours, so leak
# detection is off (the fuzzer and the core test binary run LeakSanitizer on the core):
#   LD_PRELOAD=$(g++ -print-file-name=libasan.so) ASAN_OPTIONS=detect_leaks=0 node ...
# The sanitized addon is swapped into build/Release (where node-gyp-build looks first) for the run
# and the previous one is put back on exit.
set -uo pipefail
cd "$(dirname "$0")/.."
export npm_config_nodedir=${npm_config_nodedir:-/usr}

npx cmake-js compile --out build-asan --CDPATHWISE_SANITIZE=ON --CDPATHWISE_NATIVE_TESTS=ON >build-asan.log 2>&1 || {
  tail -30 build-asan.log; echo "sanitize: the sanitized build failed"; exit 2; }
rm -f build-asan.log

asan=$(g++ -print-file-name=libasan.so)
export ASAN_OPTIONS=detect_leaks=0:abort_on_error=0:exitcode=86
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
echo "sanitize: core test binary"
ASAN_OPTIONS=detect_leaks=1:exitcode=86 ./build-asan/pathwise_core_test || { echo "sanitize: core tests failed under ASan/UBSan"; exit 1; }

# Swapped by rename, never rewritten in place: a process that has the addon loaded keeps its
# mapping of the old file (and build/Release/obj.target's hard link is left alone).
mkdir -p build/Release
addon=build/Release/pathwise.node
backup=""
if [ -f $addon ]; then
  backup=build/Release/pathwise.node.unsanitized
  mv -f $addon $backup
fi
restore() { if [ -n "$backup" ]; then mv -f $backup $addon; else rm -f $addon; fi; }
trap restore EXIT
cp build-asan/Release/pathwise.node $addon.tmp && mv -f $addon.tmp $addon

if [ $# -eq 0 ]; then
  set -- --exclude 'test/package/**' --exclude test/report.test.ts --exclude test/reliability-resources.test.ts --exclude test/reliability-leaks.test.ts
fi
echo "sanitize: vitest with the sanitized addon (LD_PRELOAD=$asan)"
LD_PRELOAD="$asan" npx vitest run "$@"
