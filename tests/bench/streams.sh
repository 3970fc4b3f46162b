#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Copyright (C) 2026 The gcsframesink authors
# Many cameras in one process: 1, 16 and 50 live streams at 30 fps, each
# appsrc ! gcsframesink in one pipeline, against the bundled emulator at
# 100 +- 50 ms (BENCH_LATENCY_MS, BENCH_JITTER_MS), the sinks sharing the
# process's upload threads and connections (shared) or each with its own
# (separate: share-uploads=false): threads, upload threads and TCP
# connections of the process (at most), peak memory, CPU per frame, and the
# worst stream's median latency. Each row is one process
# (build/tests/streams-row); the rows of one count run back to back.
#   tests/bench/streams.sh [SECONDS] [STREAMS...]      defaults: 10 s; 1 16 50
# BENCH_SINK_PROPS adds gcsframesink properties to every sink.
set -euo pipefail
cd "$(dirname "$0")/../.."
seconds=${1:-10}
shift $(( $# < 1 ? $# : 1 ))
counts=("$@"); [ ${#counts[@]} -gt 0 ] || counts=(1 16 50)

scripts/deps.sh build >/dev/null
export GST_PLUGIN_PATH=$PWD/build/gst
tmp=$(mktemp -d)
emu_pid=""
cleanup() {
  [ -n "$emu_pid" ] && kill "$emu_pid" 2>/dev/null && wait "$emu_pid" 2>/dev/null || true
  rm -rf "$tmp"
}
trap cleanup EXIT

latency=${BENCH_LATENCY_MS:-100} jitter=${BENCH_JITTER_MS:-50}
build/tests/emulator/gcs-emulator --port 0 --latency-ms "$latency" --jitter-ms "$jitter" --bucket bench >"$tmp/emu.out" &
emu_pid=$!
for _ in $(seq 100); do grep -q listening "$tmp/emu.out" 2>/dev/null && break; sleep 0.05; done
endpoint=$(sed -n 's/^listening on //p' "$tmp/emu.out")
gst-launch-1.0 -q videotestsrc pattern=ball num-buffers=30 ! video/x-raw,width=320,height=240 ! jpegenc ! \
  multifilesink location="$tmp/f%05d.jpg"

fmt='%-8s %-9s %7s %7s %10s %8s %8s %12s %8s %9s\n'
printf "$fmt" streams pools frames wall_s cpu_us/fr threads uploadth connections peak_MB p50_ms
for n in "${counts[@]}"; do
  for pools in shared separate; do
    props="${BENCH_SINK_PROPS:-}"
    [ "$pools" = separate ] && props="$props share-uploads=false"
    out=$(BENCH_SINK_PROPS="$props" build/tests/streams-row "$endpoint" bench "$tmp" "$n" 30 "$seconds")
    # streams= frames= wall_s= cpu_us_per_frame= threads= upload_threads= connections= peak_rss_mb= worst_p50_ms=
    eval "${out// /; }"
    printf "$fmt" "$streams" "$pools" "$frames" "$wall_s" "$cpu_us_per_frame" "$threads" "$upload_threads" \
      "$connections" "$peak_rss_mb" "$worst_p50_ms"
  done
done
echo
echo "30 fps per stream for ${seconds} s, ~7.5 KB JPEGs, emulator at $latency +- $jitter ms in another process;"
echo "threads, upload threads and connections are the process's largest counts, sampled every 100 ms while"
echo "frames flow; p50_ms is the largest of the sinks' median latencies (frame accepted to stored)."
echo "Upload threads of the process at most: GCSFRAMESINK_MAX_CONNECTIONS=${GCSFRAMESINK_MAX_CONNECTIONS:-64 (default)}."
echo "Sink properties: ${BENCH_SINK_PROPS:-defaults (max-concurrency=16)}. Machine: $(nproc) cores."
