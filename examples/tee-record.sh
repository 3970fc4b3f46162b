#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
# Copyright (C) 2026 The gcsframesink authors
# tee-record.sh: record a camera's frames locally and upload the same frames.
#
#   examples/tee-record.sh CAMERA-URL ENDPOINT BUCKET FRAMES DIR
#
# runs, through build/examples/gcsframes-listener (which prints each batch's
# URLs in frame order),
#
#   rtspsrc location=CAMERA-URL ! decodebin ! videoconvert ! identity eos-after=FRAMES+1 ! jpegenc ! tee name=t
#     t. ! queue ! multifilesink location=DIR/%08d.jpg
#     t. ! queue ! gcsframesink bucket=BUCKET endpoint=ENDPOINT stream-name=tee
#
# (identity ends the stream at the buffer after the FRAMES-th: it returns EOS
# at its eos-after-th buffer, so it passes eos-after - 1; both branches get
# the EOS),
# then checks what was stored: FRAMES files in DIR, FRAMES frames uploaded,
# and each object holds the same bytes as the local file of its index.
# Exit status 0 when every check passed.
#
# Environment: BUILD_DIR (default: build, beside this folder).
set -eu
[ $# -eq 5 ] || { echo "usage: $0 CAMERA-URL ENDPOINT BUCKET FRAMES DIR" >&2; exit 2; }
camera=$1 endpoint=$2 bucket=$3 frames=$4 dir=$5
build=${BUILD_DIR:-$(dirname "$0")/../build}
mkdir -p "$dir"
out=$(mktemp)
fetched=$(mktemp)
trap 'rm -f "$out" "$fetched"' EXIT

"$build/examples/gcsframes-listener" --check-order \
  "rtspsrc location=$camera latency=100 ! decodebin ! videoconvert ! identity eos-after=$((frames + 1)) ! jpegenc ! tee name=t \
   t. ! queue ! multifilesink location=$dir/%08d.jpg \
   t. ! queue ! gcsframesink bucket=$bucket endpoint=$endpoint stream-name=tee object-name={stream}/{run}/{index:08}.{ext}" |
  tee "$out"

fail() { echo "tee-record: CHECK FAILED: $*" >&2; exit 1; }
stored=$(ls "$dir" | wc -l)
[ "$stored" -eq "$frames" ] || fail "$stored files in $dir, expected $frames"
uploaded=$(grep -cE '^  [0-9]+ uploaded ' "$out" || true)
[ "$uploaded" -eq "$frames" ] || fail "$uploaded frames uploaded, expected $frames"
grep -E '^  [0-9]+ ' "$out" | while read -r index status url; do
  curl -sf -o "$fetched" "$url" || fail "frame $index: $url cannot be read"
  cmp -s "$fetched" "$(printf '%s/%08d.jpg' "$dir" "$index")" || fail "frame $index: $url differs from the local file"
done
echo "tee-record: $frames frames in $dir and in the bucket, the same bytes" >&2
