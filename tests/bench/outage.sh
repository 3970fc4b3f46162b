#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Copyright (C) 2026 The gcsframesink authors
# A long outage, measured: a live 30 fps 1280x720 camera (videotestsrc
# pattern=snow, JPEG quality 85: ~550 KB frames) into gcsframesink while the
# bundled emulator is killed 5 s in and started again (same port, same
# objects) OUTAGE_S seconds later; Ctrl-C (EOS) 10 s after that. Prints, per
# setting, the frames the sink reported and how each ended, the objects
# stored, and the peak resident memory of the gst-launch-1.0 process
# (VmHWM), against the queue bound (max-queued-frames=60 frames of ~550 KB).
# The spool (up to 4 GB here) is in a temporary folder removed at the end.
#
#   tests/bench/outage.sh              # OUTAGE_S=60: about 3 minutes
#   OUTAGE_S=10 tests/bench/outage.sh  # shorter
set -euo pipefail
cd "$(dirname "$0")/../.."
scripts/deps.sh build >/dev/null
export GST_PLUGIN_PATH=$PWD/build/gst
EMU=build/tests/emulator/gcs-emulator
OUTAGE_S=${OUTAGE_S:-60}
tmp=$(mktemp -d)
emu_pid=""
cleanup() {
  [ -n "$emu_pid" ] && kill "$emu_pid" 2>/dev/null && wait "$emu_pid" 2>/dev/null || true
  if [ -n "${KEEP:-}" ]; then echo "kept $tmp" >&2; else rm -rf "$tmp"; fi
}
trap cleanup EXIT

start_emulator() {  # PORT
  "$EMU" --port "$1" --bucket outage --root-dir "$tmp/objects" >"$tmp/emu.out" 2>&1 &
  emu_pid=$!
  for _ in $(seq 200); do grep -q listening "$tmp/emu.out" 2>/dev/null && break; sleep 0.05; done
  endpoint=$(sed -n 's/^listening on //p' "$tmp/emu.out")
}

# stored: objects in the bucket when gst-launch-1.0 has exited; in_spool:
# spooled frames the replay thread had not stored yet (a later start stores them).
printf '%-34s %7s %9s %8s %8s %8s %7s %9s %12s\n' setting frames uploaded spooled dropped failed stored in_spool \
  peak_rss_MB
for setting in "retries (no spool, leaky=none)" "spool, leaky=upstream"; do
  rm -rf "$tmp/objects" "$tmp/spool"
  start_emulator 0
  port=${endpoint##*:}
  props="bucket=outage endpoint=$endpoint object-name={index:06}.jpg max-queued-frames=60 drain-timeout=60000"
  case "$setting" in
    spool*) props="$props spool-location=$tmp/spool spool-max-size=4000000000 leaky=upstream retry-timeout=5000" ;;
  esac
  # shellcheck disable=SC2086
  gst-launch-1.0 -e -m videotestsrc is-live=true pattern=snow ! video/x-raw,width=1280,height=720,framerate=30/1 ! \
    jpegenc quality=85 ! gcsframesink $props >"$tmp/launch.out" 2>&1 &
  pid=$!
  peak=0
  watch() {  # SECONDS: reads VmHWM every 0.5 s
    for _ in $(seq $(( $1 * 2 ))); do
      kb=$(awk '/^VmHWM:/ {print $2}' "/proc/$pid/status" 2>/dev/null || echo 0)
      [ "${kb:-0}" -gt "$peak" ] && peak=$kb
      sleep 0.5
    done
  }
  watch 5
  kill "$emu_pid"; wait "$emu_pid" 2>/dev/null || true; emu_pid=""
  watch "$OUTAGE_S"
  start_emulator "$port"
  watch 10
  kill -INT "$pid"
  while kill -0 "$pid" 2>/dev/null; do watch 1; done
  wait "$pid" || true
  frames=$(grep -o 'count=(uint)[0-9]*' "$tmp/launch.out" | awk -F')' '{s += $2} END {print s + 0}')
  st() {  # frames with status $1: status=(string)< uploaded, spooled, ... >
    { grep -o 'status=(string)< [^>]*>' "$tmp/launch.out" || true; } | tr ',<>' '\n\n\n' | tr -d ' ' |
      { grep -cx "$1" || true; }
  }
  stored=$(find "$tmp/objects/outage" -type f | wc -l)
  in_spool=$({ find "$tmp/spool" -maxdepth 1 -name '*.frame' 2>/dev/null || true; } | wc -l)
  printf '%-34s %7s %9s %8s %8s %8s %7s %9s %12s\n' "$setting" "$frames" "$(st uploaded)" "$(st spooled)" \
    "$(st dropped)" "$(st failed)" "$stored" "$in_spool" "$(( peak / 1024 ))"
  kill "$emu_pid"; wait "$emu_pid" 2>/dev/null || true; emu_pid=""
done
