#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Copyright (C) 2026 The gcsframesink authors
# gcsframesink demo: a live RTSP camera uploaded frame by frame to a bucket.
#
#   scripts/demo.sh
#
# 1. installs what is missing and builds (scripts/deps.sh);
# 2. starts the bundled GCS emulator (in memory, 100 ms +- 80 ms latency per
#    request, bucket demo-frames) and a local RTSP test camera, each on a free
#    port;
# 3. runs build/examples/gcsframes-listener --max-frames FRAMES on
#      rtspsrc ! decodebin ! videoconvert ! jpegenc quality=85 !
#      gcsframesink bucket=demo-frames stream-name=cam1 batch-size=10 max-concurrency=16
#    which ends the live stream after FRAMES frames (EOS into the sink) and
#    prints each batch's URLs, in frame order, as the batches complete;
# 4. checks the bucket: as many objects as frames uploaded, each URL serves a
#    JPEG of the listed size; then prints a summary.
#
# Everything it starts is stopped when it exits. Ctrl-C while frames are
# being uploaded sends EOS: the frames already taken are uploaded, then the
# bucket is checked. Exit status 0 when every check passed.
#
# Environment: FRAMES (default 300), BUILD_DIR (default build),
# DEMO_TIMEOUT (seconds the pipeline may run, default 120).
set -euo pipefail

cd "$(dirname "$0")/.."
ROOT=$(pwd)
FRAMES=${FRAMES:-300}
BUILD_DIR=${BUILD_DIR:-build}
DEMO_TIMEOUT=${DEMO_TIMEOUT:-120}
BUCKET=demo-frames
STREAM=cam1
START_TIMEOUT=20   # seconds to wait for the emulator's and the camera's URL

die() {
  echo "demo: FAILED: $*" >&2
  exit 1
}
say() { echo "demo: $*" >&2; }

case "$FRAMES" in '' | *[!0-9]* | 0) die "FRAMES must be a positive number, not '$FRAMES'" ;; esac
case "$DEMO_TIMEOUT" in '' | *[!0-9]* | 0) die "DEMO_TIMEOUT must be a positive number of seconds" ;; esac

T_START=$(date +%s.%N)

# --- 1. packages and build ----------------------------------------------------
say "installing missing packages and building ($BUILD_DIR)"
scripts/deps.sh "$BUILD_DIR"

EMULATOR=$ROOT/$BUILD_DIR/tests/emulator/gcs-emulator
CAMERA=$ROOT/$BUILD_DIR/tests/tools/rtsp-test-camera
LISTENER=$ROOT/$BUILD_DIR/examples/gcsframes-listener
PLUGIN_DIR=$ROOT/$BUILD_DIR/gst
for b in "$EMULATOR" "$CAMERA" "$LISTENER"; do
  [ -x "$b" ] || die "$b was not built (is its directory in meson.build, and did 'ninja -C $BUILD_DIR' succeed?)"
done
[ -f "$PLUGIN_DIR/libgstgcsframes.so" ] || die "$PLUGIN_DIR/libgstgcsframes.so was not built"
for tool in curl jq od setsid; do
  command -v "$tool" >/dev/null || die "'$tool' not found (scripts/deps.sh installs it)"
done

# --- process bookkeeping --------------------------------------------------------
WORK=$(mktemp -d "${TMPDIR:-/tmp}/gcsframes-demo.XXXXXX")
EMULATOR_PID=""
CAMERA_PID=""
LISTENER_PID=""
TAIL_PIDS=()
PHASE=setup

# Stops one process we started: SIGTERM, up to 5 s, then SIGKILL.
stop_process() {
  local pid=$1 name=$2 i
  [ -n "$pid" ] || return 0
  kill -0 "$pid" 2>/dev/null || { wait "$pid" 2>/dev/null || true; return 0; }
  kill -TERM "$pid" 2>/dev/null || true
  for ((i = 0; i < 50; i++)); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  if kill -0 "$pid" 2>/dev/null; then
    echo "demo: $name (pid $pid) did not stop on SIGTERM; killing it" >&2
    kill -KILL "$pid" 2>/dev/null || true
  fi
  wait "$pid" 2>/dev/null || true
}

cleanup() {
  local status=$?
  trap - EXIT INT TERM
  set +e
  stop_process "$LISTENER_PID" gcsframes-listener
  stop_process "$CAMERA_PID" rtsp-test-camera
  stop_process "$EMULATOR_PID" gcs-emulator
  for pid in "${TAIL_PIDS[@]}"; do
    kill "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
  done
  rm -rf "$WORK"
  exit "$status"
}
trap cleanup EXIT

INTERRUPTED=0
on_interrupt() {
  # While frames flow, Ctrl-C asks the listener to send EOS (the frames it
  # holds are still uploaded; a second Ctrl-C stops it at once); otherwise
  # it ends the demo.
  if [ "$PHASE" = run ] && [ -n "$LISTENER_PID" ] && kill -0 "$LISTENER_PID" 2>/dev/null; then
    INTERRUPTED=$((INTERRUPTED + 1))
    kill -INT "$LISTENER_PID" 2>/dev/null || true
  else
    echo "demo: interrupted" >&2
    exit 130
  fi
}
trap on_interrupt INT
trap 'echo "demo: terminated" >&2; exit 143' TERM

# Waits until FILE has a line matching the extended regex PATTERN and prints
# the first such line; fails if PID exits first or after START_TIMEOUT seconds.
wait_for_line() {
  local file=$1 pattern=$2 pid=$3 name=$4 line deadline
  deadline=$(($(date +%s) + START_TIMEOUT))
  while :; do
    line=$(grep -m1 -E "$pattern" "$file" 2>/dev/null || true)
    if [ -n "$line" ]; then
      printf '%s\n' "$line"
      return 0
    fi
    if ! kill -0 "$pid" 2>/dev/null; then
      echo "demo: $name exited before printing its URL; its output:" >&2
      cat "${file%.out}.err" >&2 2>/dev/null || true
      return 1
    fi
    if [ "$(date +%s)" -ge "$deadline" ]; then
      echo "demo: $name printed no URL within ${START_TIMEOUT} s; its output:" >&2
      cat "${file%.out}.err" >&2 2>/dev/null || true
      return 1
    fi
    sleep 0.1
  done
}

# Services run in their own sessions so that a Ctrl-C in the terminal reaches
# only this script, which decides what to do with it.

# --- 2. emulator and camera ---------------------------------------------------------
setsid "$EMULATOR" --host 127.0.0.1 --port 0 --latency-ms 100 --jitter-ms 80 --bucket "$BUCKET" \
  >"$WORK/emulator.out" 2>"$WORK/emulator.err" </dev/null &
EMULATOR_PID=$!
line=$(wait_for_line "$WORK/emulator.out" '^listening on https?://' "$EMULATOR_PID" gcs-emulator) ||
  die "the GCS emulator did not start"
EMULATOR_URL=${line#listening on }
EMULATOR_URL=${EMULATOR_URL%%[[:space:]]*}
say "GCS emulator (in memory, bucket $BUCKET, latency 100 +- 80 ms): $EMULATOR_URL"

setsid "$CAMERA" --port 0 >"$WORK/camera.out" 2>"$WORK/camera.err" </dev/null &
CAMERA_PID=$!
CAMERA_URL=$(wait_for_line "$WORK/camera.out" '^rtsp://' "$CAMERA_PID" rtsp-test-camera) ||
  die "the RTSP test camera did not start"
CAMERA_URL=${CAMERA_URL%%[[:space:]]*}
say "RTSP test camera: $CAMERA_URL"

# --- 3. the pipeline ----------------------------------------------------------------
PIPELINE="rtspsrc location=$CAMERA_URL latency=100 ! decodebin ! videoconvert !"
PIPELINE+=" jpegenc quality=85 ! gcsframesink bucket=$BUCKET stream-name=$STREAM batch-size=10"
PIPELINE+=" max-concurrency=16 endpoint=$EMULATOR_URL"
say "pipeline: $PIPELINE"
say "uploading $FRAMES frames; each batch is printed when all its frames are settled (Ctrl-C to stop early)"

: >"$WORK/listener.out"
: >"$WORK/listener.err"
T_RUN=$(date +%s.%N)
PHASE=run
GST_PLUGIN_PATH=$PLUGIN_DIR${GST_PLUGIN_PATH:+:$GST_PLUGIN_PATH} STORAGE_EMULATOR_HOST='' \
  setsid "$LISTENER" --check-order --max-frames "$FRAMES" "$PIPELINE" >"$WORK/listener.out" 2>"$WORK/listener.err" </dev/null &
LISTENER_PID=$!
# Shows the listener's output as it arrives.
tail -n +1 -s 0.1 -f --pid="$LISTENER_PID" "$WORK/listener.out" &
TAIL_PIDS+=($!)
tail -n +1 -s 0.1 -f --pid="$LISTENER_PID" "$WORK/listener.err" >&2 &
TAIL_PIDS+=($!)

deadline=$(($(date +%s) + DEMO_TIMEOUT))
sent_eos=0
while kill -0 "$LISTENER_PID" 2>/dev/null; do
  now=$(date +%s)
  if [ "$sent_eos" -eq 0 ] && [ "$now" -ge "$deadline" ]; then
    say "the pipeline ran longer than ${DEMO_TIMEOUT} s: sending EOS"
    kill -INT "$LISTENER_PID" 2>/dev/null || true
    sent_eos=1
  elif [ "$sent_eos" -eq 1 ] && [ "$now" -ge $((deadline + 30)) ]; then
    say "the listener did not finish 30 s after EOS: killing it"
    kill -KILL "$LISTENER_PID" 2>/dev/null || true
    break
  fi
  sleep 0.2 || true
done
listener_status=0
wait "$LISTENER_PID" || listener_status=$?
LISTENER_PID=""
for pid in "${TAIL_PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
TAIL_PIDS=()
PHASE=check
T_RUN_END=$(date +%s.%N)

[ "$sent_eos" -eq 0 ] || die "the pipeline did not reach EOS within ${DEMO_TIMEOUT} s"
[ "$listener_status" -eq 0 ] || die "gcsframes-listener exited with status $listener_status (see its messages above)"

# --- 4. checks ------------------------------------------------------------------------
say "checking the bucket"
batches=$(grep -cE '^batch [0-9]+ ' "$WORK/listener.out" || true)
frames=$(grep -cE '^  [0-9]+ [a-z]+ ' "$WORK/listener.out" || true)
grep -E '^  [0-9]+ uploaded ' "$WORK/listener.out" | awk '{print $3}' >"$WORK/urls.txt" || true
uploaded=$(wc -l <"$WORK/urls.txt")
not_uploaded=$((frames - uploaded))

[ "$batches" -gt 0 ] || die "no batch message arrived"
[ "$uploaded" -gt 0 ] || die "no frame was uploaded"
[ "$not_uploaded" -eq 0 ] || die "$not_uploaded of $frames frames were not uploaded:
$(grep -E '^  [0-9]+ ' "$WORK/listener.out" | grep -vE '^  [0-9]+ uploaded ' | head -n 5)"
if [ "$INTERRUPTED" -eq 0 ] && [ "$frames" -ne "$FRAMES" ]; then
  die "$frames frames were reported, expected $FRAMES"
fi
dups=$(sort "$WORK/urls.txt" | uniq -d | head -n 3)
[ -z "$dups" ] || die "some URLs were reported more than once: $dups"

# The bucket's listing (JSON API, every page): "name<TAB>size" lines.
: >"$WORK/listing.tsv"
page_token=""
while :; do
  list_url="$EMULATOR_URL/storage/v1/b/$BUCKET/o?prefix=$STREAM/&maxResults=1000"
  [ -z "$page_token" ] || list_url+="&pageToken=$(jq -rn --arg t "$page_token" '$t|@uri')"
  curl -sS --fail --max-time 30 "$list_url" >"$WORK/page.json" || die "cannot list gs://$BUCKET at $list_url"
  jq -r '.items // [] | .[] | "\(.name)\t\(.size)"' "$WORK/page.json" >>"$WORK/listing.tsv" ||
    die "the listing is not the expected JSON: $(head -c 300 "$WORK/page.json")"
  page_token=$(jq -r '.nextPageToken // empty' "$WORK/page.json")
  [ -n "$page_token" ] || break
done
objects=$(wc -l <"$WORK/listing.tsv")
[ "$objects" -eq "$uploaded" ] ||
  die "the bucket holds $objects objects under $STREAM/, but $uploaded frames were reported uploaded"

declare -A listed_size=()
while IFS=$'\t' read -r name size; do
  listed_size[$name]=$size
done <"$WORK/listing.tsv"

# Downloads every reported URL (in parallel) and checks it against the listing.
url_prefix="$EMULATOR_URL/$BUCKET/"
mkdir -p "$WORK/objects"
: >"$WORK/download.cfg"
n=0
while read -r url; do
  case "$url" in "$url_prefix"*) ;; *) die "URL $url is not under $url_prefix" ;; esac
  printf 'url = "%s"\noutput = "%s/objects/%06d"\n' "$url" "$WORK" "$n" >>"$WORK/download.cfg"
  n=$((n + 1))
done <"$WORK/urls.txt"
curl -sS --no-progress-meter --fail --max-time 60 --parallel --parallel-max 16 -K "$WORK/download.cfg" ||
  die "downloading the uploaded frames failed"

total_bytes=0
n=0
while read -r url; do
  file=$(printf '%s/objects/%06d' "$WORK" "$n")
  n=$((n + 1))
  encoded=${url#"$url_prefix"}
  name=$(printf '%b' "${encoded//%/\\x}")
  [ -n "${listed_size[$name]+set}" ] || die "$name (from $url) is not in the bucket's listing"
  size=$(stat -c %s "$file")
  [ "$size" -eq "${listed_size[$name]}" ] ||
    die "$url: downloaded $size bytes, the listing says ${listed_size[$name]}"
  [ "$size" -ge 4 ] || die "$url: only $size bytes"
  head=$(od -An -tx1 -N2 "$file" | tr -d ' \n')
  tail=$(od -An -tx1 -j $((size - 2)) -N2 "$file" | tr -d ' \n')
  [ "$head" = ffd8 ] || die "$url does not start with a JPEG SOI marker (FF D8) but $head"
  [ "$tail" = ffd9 ] || die "$url does not end with a JPEG EOI marker (FF D9) but $tail"
  total_bytes=$((total_bytes + size))
done <"$WORK/urls.txt"

T_END=$(date +%s.%N)
run_s=$(awk -v a="$T_RUN" -v b="$T_RUN_END" 'BEGIN { printf "%.1f", b - a }')
wall_s=$(awk -v a="$T_START" -v b="$T_END" 'BEGIN { printf "%.1f", b - a }')
mean_batch_ms=$(grep -oE 'upload-time [0-9.]+ ms' "$WORK/listener.out" |
  awk '{ s += $2; n++ } END { if (n) printf "%.0f", s / n; else print 0 }')

echo
echo "Summary"
early=""
[ "$INTERRUPTED" -eq 0 ] || early=" (stopped early by Ctrl-C)"
echo "  frames uploaded : $uploaded of $frames$early"
echo "  batches         : $batches (mean upload-time ${mean_batch_ms} ms, emulator latency 100 +- 80 ms)"
echo "  objects         : $objects in gs://$BUCKET/$STREAM/, $total_bytes bytes, all JPEG, sizes match the listing"
echo "  pipeline time   : ${run_s} s"
echo "  wall time       : ${wall_s} s (build check, emulator, camera, pipeline and bucket checks)"
echo "demo: OK"
