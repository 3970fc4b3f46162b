#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
# Copyright (C) 2026 The gcsframesink authors
# snapshots.sh: upload one frame of a camera every N seconds.
#
#   examples/snapshots.sh CAMERA-URL ENDPOINT BUCKET SECONDS COUNT
#
# runs, through build/examples/gcsframes-listener (which prints each batch's
# URLs in frame order),
#
#   rtspsrc location=CAMERA-URL ! decodebin ! videorate ! video/x-raw,framerate=1/SECONDS ! videoconvert !
#     gcsframesink bucket=BUCKET endpoint=ENDPOINT stream-name=snapshots image-format=jpeg
#
# (videorate keeps one frame per SECONDS, stamped exactly SECONDS apart; the
# listener's --max-frames COUNT ends the stream after COUNT snapshots), then
# checks what was stored: COUNT JPEG objects, whose timestamps ({pts-ms} in
# their names) are SECONDS apart.
# Exit status 0 when every check passed.
#
# Environment: BUILD_DIR (default: build, beside this folder).
set -eu
[ $# -eq 5 ] || { echo "usage: $0 CAMERA-URL ENDPOINT BUCKET SECONDS COUNT" >&2; exit 2; }
camera=$1 endpoint=$2 bucket=$3 seconds=$4 count=$5
build=${BUILD_DIR:-$(dirname "$0")/../build}
out=$(mktemp)
fetched=$(mktemp)
trap 'rm -f "$out" "$fetched"' EXIT

"$build/examples/gcsframes-listener" --check-order --max-frames "$count" \
  "rtspsrc location=$camera latency=100 ! decodebin ! videorate ! video/x-raw,framerate=1/$seconds ! videoconvert ! \
   gcsframesink bucket=$bucket endpoint=$endpoint stream-name=snapshots image-format=jpeg \
     object-name={stream}/{run}/{index:08}-{pts-ms}.{ext}" |
  tee "$out"

fail() { echo "snapshots: CHECK FAILED: $*" >&2; exit 1; }
uploaded=$(grep -cE '^  [0-9]+ uploaded ' "$out" || true)
[ "$uploaded" -eq "$count" ] || fail "$uploaded snapshots uploaded, expected $count"
previous=
grep -E '^  [0-9]+ ' "$out" | while read -r index status url; do
  curl -sf -o "$fetched" "$url" || fail "snapshot $index: $url cannot be read"
  [ "$(head -c 3 "$fetched" | od -An -tx1 | tr -d ' ')" = ffd8ff ] || fail "snapshot $index is not a JPEG"
  ms=${url##*-}
  ms=${ms%.jpg}
  if [ -n "$previous" ] && [ $((ms - previous)) -ne $((seconds * 1000)) ]; then
    fail "snapshot $index at $ms ms, the one before at $previous ms: not $seconds s apart"
  fi
  previous=$ms
done
echo "snapshots: $count JPEG snapshots stored, $seconds s apart" >&2
