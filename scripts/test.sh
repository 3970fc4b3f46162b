#!/usr/bin/env bash
# README command 2: installs what is missing, builds, and runs the whole test
# suite (unit tests of the core, the emulator's tests, element tests and an
# end-to-end launch line).
#   scripts/test.sh            normal build in build/
#   scripts/test.sh --asan     AddressSanitizer + UndefinedBehaviorSanitizer build in build-asan/
#   scripts/test.sh --tsan     ThreadSanitizer build in build-tsan/
set -euo pipefail
cd "$(dirname "$0")/.."

mode=${1:-normal}
case "$mode" in
  normal) dir=build; opts=() ;;
  --asan) dir=build-asan; opts=(-Db_sanitize=address,undefined -Db_lundef=false -Dbuildtype=debug) ;;
  --tsan) dir=build-tsan; opts=(-Db_sanitize=thread -Db_lundef=false -Dbuildtype=debug) ;;
  *) echo "usage: $0 [--asan|--tsan]" >&2; exit 2 ;;
esac

scripts/deps.sh "$dir" "${opts[@]}"

export GST_REGISTRY_FORK=no   # scan plugins in-process, so sanitizer runtimes apply to the plugin too
if [ "$mode" = --asan ]; then
  export ASAN_OPTIONS="detect_leaks=1:abort_on_error=1"
  export LSAN_OPTIONS="suppressions=$PWD/tests/lsan.supp:print_suppressions=0"
  export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
fi
if [ "$mode" = --tsan ]; then
  export TSAN_OPTIONS="halt_on_error=1:second_deadlock_stack=1:suppressions=$PWD/tests/tsan.supp"
  export G_SLICE=always-malloc
fi
tests=()
if [ "$mode" = --tsan ]; then
  # The element tests run inside GStreamer, whose atomics-based refcounting
  # and lazily created locks ThreadSanitizer cannot see in the uninstrumented
  # system libraries; it reports those as races. The uploader's concurrency
  # is covered by the core tests, which run clean.
  tests=(core emulator)
fi
meson test -C "$dir" --print-errorlogs --num-processes 2 "${tests[@]}"
