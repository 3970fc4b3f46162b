#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Copyright (C) 2026 The gcsframesink authors
# Wall time of N JPEG frames through gcsframesink against the bundled emulator
# at a given latency, for several max-concurrency values, side by side.
#   tests/bench/concurrency.sh [FRAMES] [LATENCY_MS] [JITTER_MS] [CONCURRENCY...]
# Defaults: 500 frames, 200 +- 150 ms, max-concurrency 1 and 16 (the first row is the baseline).
set -euo pipefail
cd "$(dirname "$0")/../.."
frames=${1:-500}; latency=${2:-200}; jitter=${3:-150}
shift $(( $# < 3 ? $# : 3 ))
levels=("$@"); [ ${#levels[@]} -gt 0 ] || levels=(1 16)

scripts/deps.sh build >/dev/null
export GST_PLUGIN_PATH=$PWD/build/gst
tmp=$(mktemp -d)
emu_pid=""
cleanup() { [ -n "$emu_pid" ] && kill "$emu_pid" 2>/dev/null; wait 2>/dev/null; rm -rf "$tmp"; }
trap cleanup EXIT

build/tests/emulator/gcs-emulator --port 0 --latency-ms "$latency" --jitter-ms "$jitter" --bucket bench >"$tmp/emu.out" &
emu_pid=$!
for _ in $(seq 100); do grep -q listening "$tmp/emu.out" 2>/dev/null && break; sleep 0.05; done
endpoint=$(sed -n 's/^listening on //p' "$tmp/emu.out")

# Encode the frames once, so the runs measure uploads only.
gst-launch-1.0 -q videotestsrc pattern=ball num-buffers="$frames" ! video/x-raw,width=640,height=480 ! \
  jpegenc ! multifilesink location="$tmp/f%05d.jpg"
size=$(du -sb "$tmp" | cut -f1)

printf '%d JPEG frames (%d KB average), emulator latency %d +- %d ms, batch-size=10\n' \
  "$frames" $(( size / frames / 1024 )) "$latency" "$jitter"
printf '%-16s %10s %10s %14s\n' max-concurrency wall-s frames/s speedup
base=""
for c in "${levels[@]}"; do
  cmd=(gst-launch-1.0 -q multifilesrc location="$tmp/f%05d.jpg" index=0 stop-index=$((frames - 1))
       caps=image/jpeg,framerate=30/1 ! gcsframesink bucket=bench endpoint="$endpoint"
       stream-name="c$c" batch-size=10 max-concurrency="$c")
  t0=$(date +%s.%N); "${cmd[@]}"; t1=$(date +%s.%N)
  wall=$(echo "$t1 - $t0" | bc -l)
  [ -n "$base" ] || base=$wall
  printf '%-16s %10.2f %10.1f %14s\n' "$c" "$wall" "$(echo "$frames / $wall" | bc -l)" \
    "$(printf '%.1fx' "$(echo "$base / $wall" | bc -l)")"
done
echo "command: ${cmd[*]}"
