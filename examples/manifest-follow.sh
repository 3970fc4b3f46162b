#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
# Copyright (C) 2026 The gcsframesink authors
# manifest-follow.sh: a camera uploads with manifest-name; a consumer that
# knows only the bucket follows its batches.
#
#   examples/manifest-follow.sh CAMERA-URL ENDPOINT BUCKET FRAMES
#
# starts examples/python/manifest_consumer.py on the prefix manifests/follow/
# (it prints each batch's frames, in order, from the manifest objects), then
# runs, through build/examples/gcsframes-listener (its own output discarded:
# what is printed comes from the bucket),
#
#   rtspsrc location=CAMERA-URL ! decodebin ! videoconvert ! identity eos-after=FRAMES+1 ! jpegenc !
#     gcsframesink bucket=BUCKET endpoint=ENDPOINT stream-name=follow
#       manifest-name=manifests/{stream}/{run}/{batch:08}.{ext}
#
# and waits for the consumer. Exit status: the consumer's (0 when it saw
# FRAMES frames, all uploaded), or the pipeline's when that failed.
#
# Environment: BUILD_DIR (default: build, beside this folder), PYTHON
# (default /usr/bin/python3).
set -eu
[ $# -eq 4 ] || { echo "usage: $0 CAMERA-URL ENDPOINT BUCKET FRAMES" >&2; exit 2; }
camera=$1 endpoint=$2 bucket=$3 frames=$4
here=$(dirname "$0")
build=${BUILD_DIR:-$here/../build}
"${PYTHON:-/usr/bin/python3}" "$here/python/manifest_consumer.py" --endpoint "$endpoint" --bucket "$bucket" \
  --prefix manifests/follow/ --frames "$frames" --timeout 40 &
consumer=$!
if ! "$build/examples/gcsframes-listener" \
  "rtspsrc location=$camera latency=100 ! decodebin ! videoconvert ! identity eos-after=$((frames + 1)) ! jpegenc ! \
   gcsframesink bucket=$bucket endpoint=$endpoint stream-name=follow object-name={stream}/{run}/{index:08}.{ext} \
   batch-size=10 manifest-name=manifests/{stream}/{run}/{batch:08}.{ext}" >/dev/null; then
  kill "$consumer" 2>/dev/null || true
  echo "manifest-follow: the pipeline failed" >&2
  exit 1
fi
wait "$consumer"
