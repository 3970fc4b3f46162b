#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
# Copyright (C) 2026 The gcsframesink authors
# The fault tests against one long-lived server shared by every test and by
# two runs in a row: the bundled emulator started once as its own process
# (as Google's storage-testbench would be), reached through GCS_TEST_ENDPOINT.
#   faults-shared.sh EMULATOR TEST-FAULTS
set -u
emulator=$1 faults=$2
log=$(mktemp)
"$emulator" --bucket test-faults >"$log" 2>&1 &
pid=$!
endpoint=
for _ in $(seq 1 100); do
  endpoint=$(sed -n 's/^listening on //p' "$log")
  [ -n "$endpoint" ] && break
  sleep 0.1
done
if [ -z "$endpoint" ]; then
  echo "the emulator did not start:" >&2
  cat "$log" >&2
  kill "$pid" 2>/dev/null
  exit 1
fi
rc=0
for run in 1 2; do
  echo "run $run against $endpoint (emulator pid $pid)"
  GCS_TEST_ENDPOINT=$endpoint "$faults" || rc=1
done
kill -0 "$pid" 2>/dev/null || { echo "the emulator died during the runs" >&2; rc=1; }
kill "$pid"
wait "$pid" 2>/dev/null
rm -f "$log"
exit $rc
