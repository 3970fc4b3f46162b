#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Copyright (C) 2026 The gcsframesink authors
# Longer fuzzing than the test suite's: builds the fuzz targets with clang and
# libFuzzer (as scripts/test.sh --fuzz, in build-fuzz/) and runs each for
# SECONDS (default 300) from its corpus, printing executions and crashes.
# New interesting inputs go to fuzz-out/<target>/ (add the useful ones to
# tests/fuzz/corpus/<target>/); a crash leaves crash-* in fuzz-out/.
#   scripts/fuzz.sh [SECONDS] [TARGET...]   targets: template upload-answer token-answer emulator-request spool-file
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-300}
shift || true
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(template upload-answer token-answer emulator-request spool-file)

export CC=clang CXX=clang++ EXTRA_PACKAGES="${EXTRA_PACKAGES:-} clang libclang-rt-14-dev"
scripts/deps.sh build-fuzz -Dfuzz=true -Db_sanitize=address,undefined -Db_lundef=false -Dbuildtype=debug
export ASAN_OPTIONS="detect_leaks=1:abort_on_error=1"
export LSAN_OPTIONS="suppressions=$PWD/tests/lsan.supp:print_suppressions=0"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"

status=0
for t in "${targets[@]}"; do
  out=fuzz-out/$t
  mkdir -p "$out"
  log=$(mktemp)
  echo "== $t: $seconds s"
  (cd fuzz-out && "../build-fuzz/tests/fuzz/fuzz-$t" -max_total_time="$seconds" -error_exitcode=1 -print_final_stats=1 \
     "../$out" "../tests/fuzz/corpus/$t") >"$log" 2>&1 || status=1
  execs=$(sed -nE 's/^stat::number_of_executed_units: *([0-9]+).*/\1/p' "$log")
  crashes=$(grep -c '^==[0-9]*==ERROR\|^SUMMARY: ' "$log" || true)
  echo "$t: ${execs:-?} executions, $crashes crashes (log: $log)"
done
exit "$status"
