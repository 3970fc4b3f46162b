#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Copyright (C) 2026 The gcsframesink authors
# README command 2: installs what is missing, builds, and runs the whole test
# suite (unit tests of the core, the emulator's tests, element tests, the
# examples against the emulator and the RTSP test camera, and an
# end-to-end launch line).
#   scripts/test.sh            normal build in build/
#   scripts/test.sh --asan     AddressSanitizer + UndefinedBehaviorSanitizer build in build-asan/
#   scripts/test.sh --tsan     ThreadSanitizer build in build-tsan/
#   scripts/test.sh --fuzz     clang + libFuzzer + ASan/UBSan build in build-fuzz/:
#                              the fuzz targets run over their corpus and then
#                              fuzz on for a fixed number of inputs (longer
#                              runs: scripts/fuzz.sh)
set -euo pipefail
cd "$(dirname "$0")/.."

mode=${1:-normal}
suite=()
case "$mode" in
  normal) dir=build; opts=() ;;
  --asan) dir=build-asan; opts=(-Db_sanitize=address,undefined -Db_lundef=false -Dbuildtype=debug) ;;
  --tsan) dir=build-tsan; opts=(-Db_sanitize=thread -Db_lundef=false -Dbuildtype=debug) ;;
  --fuzz)
    dir=build-fuzz
    opts=(-Dfuzz=true -Db_sanitize=address,undefined -Db_lundef=false -Dbuildtype=debug)
    suite=(--suite fuzz)
    export CC=clang CXX=clang++
    export EXTRA_PACKAGES="${EXTRA_PACKAGES:-} clang libclang-rt-14-dev"
    ;;
  *) echo "usage: $0 [--asan|--tsan|--fuzz]" >&2; exit 2 ;;
esac

scripts/deps.sh "$dir" "${opts[@]}"

export GST_REGISTRY_FORK=no   # scan plugins in-process, so sanitizer runtimes apply to the plugin too
if [ "$mode" = --asan ] || [ "$mode" = --fuzz ]; then
  export ASAN_OPTIONS="detect_leaks=1:abort_on_error=1"
  export LSAN_OPTIONS="suppressions=$PWD/tests/lsan.supp:print_suppressions=0"
  export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
fi
if [ "$mode" = --tsan ]; then
  # Every suite runs. The element tests (suite "element") get
  # ignore_noninstrumented_modules=1 added in tests/meson.build: GLib and
  # GStreamer are not instrumented and synchronise through futexes and atomic
  # reference counts ThreadSanitizer cannot see, so a buffer, a bus message or
  # a TLS session handed between threads is reported as a race at the malloc,
  # free or memcpy they call. On Linux the option does not tell instrumented
  # modules from the rest: it ignores the memory accesses of *every* libc call
  # that ThreadSanitizer intercepts (malloc, free/delete, memcpy, strlen...),
  # project code's included. Plain loads and stores in project code are still
  # checked, with every lock it sees. (called_from_lib:libglib-2.0.so in
  # tests/tsan.supp would be narrower but also hides the pthread locks GLib
  # takes, and then reports double locks and more races.) The unit and
  # emulator tests, which drive the uploader's threads without GStreamer, keep
  # the full check.
  export TSAN_OPTIONS="halt_on_error=1:second_deadlock_stack=1:suppressions=$PWD/tests/tsan.supp"
  export G_SLICE=always-malloc
fi
log=$(mktemp)
trap 'rm -f "$log"' EXIT
status=0
meson test -C "$dir" "${suite[@]}" --print-errorlogs --num-processes 2 | tee "$log" || status=$?
if [ "$mode" = --fuzz ]; then  # no Check suites here: count the targets
  ok=$(sed -nE 's/^Ok: +([0-9]+).*/\1/p' "$log")
  bad=$(sed -nE 's/^Fail: +([0-9]+).*/\1/p' "$log")
  echo "${ok:-0} fuzz targets passed, ${bad:-0} failed"
  exit "$status"
fi
# The individual checks run by the Check-based suites, for the closing line.
checks=$(grep -hoE '^[0-9]+%: Checks: [0-9]+, Failures: [0-9]+, Errors: [0-9]+' "$dir/meson-logs/testlog.txt" |
  awk -F'[:,]' '{c += $3; f += $5 + $7} END {printf "%d %d", c - f, f}')
emu=$(grep -hoE '^[0-9]+ passed, [0-9]+ failed' "$dir/meson-logs/testlog.txt" | awk '{p += $1; f += $3} END {printf "%d %d", p, f}')
read -r cp cf <<<"$checks"
read -r ep ef <<<"$emu"
suites_failed=$(sed -nE 's/^Fail: +([0-9]+).*/\1/p' "$log")
failed=$((cf + ef))
# A suite can fail without a failed check (a crash, a timeout): count it then.
[ "$failed" -ge "${suites_failed:-0}" ] || failed=${suites_failed:-0}
echo "$((cp + ep)) passed, $failed failed"
exit "$status"
