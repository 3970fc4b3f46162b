#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Copyright (C) 2026 The gcsframesink authors
# The benchmark: gcsframesink against its baselines, each row measured in the
# same run against the same bundled emulator, printed as one table.
#
#   tests/bench/run.sh            # about 3 minutes on 2 cores
#   QUICK=1 tests/bench/run.sh    # fewer frames, for a smoke test
#
# Baselines per frame size (real JPEGs of ~50 KB and ~300 KB):
#   curl-seq  one upload after another on one kept-alive libcurl handle (the
#             sequential loop; gssink also uploads one frame at a time). At 0
#             latency its CPU per request is the client floor.
#   curl-par  16 threads of kept-alive libcurl POSTs of the same bodies: the
#             ceiling the server allows.
# and gcsframesink (appsrc ! gcsframesink, frames already encoded, so the
# encoder's cost is not in its CPU; the "pipeline" row, appsrc ! fakesink,
# is what the pipeline around the sink costs) at several max-concurrency values, with
# emulator latency 0, 50/100 and 1000 ms. At 0 ms the floor and sink rows run
# three times, interleaved, and each prints its median run by CPU per frame.
#
# Then HTTP/1.1 against HTTP/2, through one TLS front (nghttpx, which speaks
# both) before the emulator: 16 kept-alive HTTP/1.1 connections (curl-par),
# 16 streams multiplexed on one HTTP/2 connection (curl-h2), and the sink.
set -euo pipefail
cd "$(dirname "$0")/../.."
EXTRA_PACKAGES="nghttp2-proxy openssl" scripts/deps.sh build >/dev/null
export GST_PLUGIN_PATH=$PWD/build/gst
ROW=build/tests/bench-row
EMU=build/tests/emulator/gcs-emulator
tmp=$(mktemp -d)
emu_pid=""
proxy_pid=""
cleanup() {
  [ -n "$emu_pid" ] && kill "$emu_pid" 2>/dev/null && wait "$emu_pid" 2>/dev/null || true
  [ -n "$proxy_pid" ] && kill "$proxy_pid" 2>/dev/null && wait "$proxy_pid" 2>/dev/null || true
  rm -rf "$tmp"
}
trap cleanup EXIT
q() { if [ -n "${QUICK:-}" ]; then echo $(( ($1 + 4) / 5 )); else echo "$1"; fi; }

start_emulator() {  # LATENCY_MS
  [ -n "$emu_pid" ] && kill "$emu_pid" 2>/dev/null && wait "$emu_pid" 2>/dev/null || true
  "$EMU" --port 0 --latency-ms "$1" --bucket bench >"$tmp/emu.out" &
  emu_pid=$!
  for _ in $(seq 200); do grep -q listening "$tmp/emu.out" 2>/dev/null && break; sleep 0.05; done
  endpoint=$(sed -n 's/^listening on //p' "$tmp/emu.out")
}

make_frames() {  # NAME WIDTH HEIGHT QUALITY
  mkdir -p "$tmp/$1"
  gst-launch-1.0 -q videotestsrc pattern=snow num-buffers=64 ! video/x-raw,width="$2",height="$3" ! \
    jpegenc quality="$4" ! multifilesink location="$tmp/$1/f%05d.jpg"
}

make_frames 50k 320 240 85
make_frames 300k 1024 576 70

printf '%-9s %-7s %-12s %6s %7s %8s %8s %9s %8s %15s %7s\n' size latency row frames wall_s frames/s vs-ideal \
  cpu_us/fr vs-floor render_p50/p99 peak_MB
commands=()
n=0
runs_done=0
measure() {  # SIZE MODE FRAMES CONCURRENCY: one run; its key=value line in $out
  runs_done=$((runs_done + 1))
  local frames_arg="$tmp/$1"
  [[ "$1" =~ ^[0-9]+x[0-9]+$ ]] && frames_arg=$1  # raw modes: the frame size
  local cmd=("$ROW" "$2" "$endpoint" bench "$frames_arg" "$3" "$4" "r$runs_done-")
  out=$("${cmd[@]}") || { echo "row $n failed: ${cmd[*]}" >&2; return 1; }
  last_cmd="${BENCH_CA_FILE:+BENCH_CA_FILE=$BENCH_CA_FILE }${BENCH_SINK_PROPS:+BENCH_SINK_PROPS=\"$BENCH_SINK_PROPS\" }${cmd[*]}"
}
measure_spooled() {  # as measure, for the sink with spool-mode=always (an empty spool each run)
  rm -rf "$tmp/spool"
  BENCH_SINK_PROPS="spool-mode=always spool-location=$tmp/spool" measure "$@"
}
median_of() {  # VAR: the run in runs_VAR with the median cpu_us_per_frame
  local -n runs=$1
  printf '%s\n' "${runs[@]}" | awk '{for(i=1;i<=NF;i++) if ($i ~ /^cpu_us_per_frame=/) {split($i,a,"="); print a[2], $0}}' |
    sort -n | awk '{a[NR]=$0} END {v=a[int((NR+1)/2)]; sub(/^[^ ]* /,"",v); print v}'
}
row() {  # SIZE LATENCY MODE FRAMES CONCURRENCY [OUT]: prints one row (of OUT if given)
  local size=$1 lat=$2 mode=$3 frames=$4 conc=$5 label
  n=$((n + 1))
  label=$mode; [ "$mode" = sink ] && label="sink c=$conc${label_suffix:-}"
  [ "$mode" = curl-par ] || [ "$mode" = curl-h2 ] && label="$mode c=$conc"
  [ "$mode" = fakesink ] && label="pipeline"
  [ "$mode" = raw ] && label="raw c=$conc"
  [ "$mode" = raw-jpegenc ] && label="jpegenc c=$conc"
  if [ -n "${6:-}" ]; then out=$6; else measure "$size" "$mode" "$frames" "$conc"; fi
  commands+=("[$n] $last_cmd")
  eval "$out"  # frames= wall_s= fps= cpu_us_per_frame= render_p50_us= render_p99_us= peak_rss_mb=
  local ideal="-" floor_ratio="-" render="-"
  if [ "$lat" -gt 0 ]; then
    ideal=$(awk -v f="$fps" -v c="$conc" -v l="$lat" 'BEGIN{printf "%.0f%%", 100*f/(c*1000/l)}')
  elif [ -n "${ceiling:-}" ] && [ "$mode" != curl-par ]; then
    ideal=$(awk -v f="$fps" -v c="$ceiling" 'BEGIN{printf "%.0f%%c", 100*f/c}')
  fi
  [ -n "${floor:-}" ] && floor_ratio=$(awk -v a="$cpu_us_per_frame" -v b="$floor" 'BEGIN{printf "%.2fx", a/b}')
  case $mode in sink | raw*) render=$(printf '%.0f/%.0f' "$render_p50_us" "$render_p99_us") ;; esac
  if [ "$mode" = fakesink ]; then ideal="-"; floor_ratio="-"; fi
  printf '%-9s %-7s %-12s %6s %7.2f %8.1f %8s %9.1f %8s %15s %7.1f\n' "$size" "${lat}ms" "$label" "$frames" \
    "$wall_s" "$fps" "$ideal" "$cpu_us_per_frame" "$floor_ratio" "$render" "$peak_rss_mb"
}

for size in 50k 300k; do
  if [ "$size" = 50k ]; then many=$(q 1500); else many=$(q 400); fi
  start_emulator 0
  floor="" ceiling=""
  seq_runs=() s1_runs=() s16_runs=() sp_runs=()
  for _ in 1 2 3; do  # interleaved, so that a slow spell of the machine hits all of them
    measure "$size" curl-seq "$many" 1; seq_runs+=("$out"); seq_cmd=$last_cmd
    measure "$size" sink "$many" 1; s1_runs+=("$out"); s1_cmd=$last_cmd
    measure "$size" sink "$many" 16; s16_runs+=("$out"); s16_cmd=$last_cmd
    measure_spooled "$size" sink "$many" 16; sp_runs+=("$out"); sp_cmd=$last_cmd
  done
  last_cmd=$seq_cmd; row "$size" 0 curl-seq "$many" 1 "$(median_of seq_runs)"; floor=$cpu_us_per_frame
  row "$size" 0 curl-par "$many" 16; ceiling=$fps
  row "$size" 0 fakesink "$many" 1
  last_cmd=$s1_cmd; row "$size" 0 sink "$many" 1 "$(median_of s1_runs)"
  last_cmd=$s16_cmd; row "$size" 0 sink "$many" 16 "$(median_of s16_runs)"
  last_cmd=$sp_cmd; label_suffix=" always"; row "$size" 0 sink "$many" 16 "$(median_of sp_runs)"; label_suffix=""
  start_emulator 50
  row "$size" 50 curl-seq "$(q 40)" 1
  row "$size" 50 sink "$(q 640)" 16
  start_emulator 100
  row "$size" 100 sink "$(q 1280)" 64
  start_emulator 1000
  row "$size" 1000 curl-seq "$(q 5)" 1
  row "$size" 1000 sink 50 16
  row "$size" 1000 sink 50 64
done

# Raw video: encoded to JPEG by the sink's upload workers (appsrc ! gcsframesink)
# against jpegenc on the streaming thread (appsrc ! jpegenc ! gcsframesink),
# the same I420 frames, quality 85, 0 ms; three interleaved runs each, medians.
start_emulator 0
floor="" ceiling=""
echo
echo "Raw I420 video, 0 ms: encoded by the sink's workers (raw) against jpegenc on the streaming thread:"
for size in 1280x720 1920x1080; do
  if [ "$size" = 1280x720 ]; then many=$(q 600); else many=$(q 300); fi
  raw_runs=() enc_runs=()
  for _ in 1 2 3; do
    measure "$size" raw "$many" 16; raw_runs+=("$out"); raw_cmd=$last_cmd
    measure "$size" raw-jpegenc "$many" 16; enc_runs+=("$out"); enc_cmd=$last_cmd
  done
  last_cmd=$raw_cmd; row "$size" 0 raw "$many" 16 "$(median_of raw_runs)"; raw_fps=$fps
  last_cmd=$enc_cmd; row "$size" 0 raw-jpegenc "$many" 16 "$(median_of enc_runs)"
  awk -v a="$raw_fps" -v b="$fps" -v s="$size" 'BEGIN{printf "%s: raw frames/s = %.2fx jpegenc'"'"'s\n", s, a/b}'
done

# HTTP/1.1 against HTTP/2 through one TLS front.
start_emulator 0
openssl req -x509 -newkey rsa:2048 -nodes -keyout "$tmp/key.pem" -out "$tmp/cert.pem" -days 1 \
  -subj /CN=127.0.0.1 -addext subjectAltName=IP:127.0.0.1 2>/dev/null
emu_port=${endpoint##*:}
for _ in $(seq 20); do
  port=$((20000 + RANDOM % 20000))
  nghttpx --conf=/dev/null -f"127.0.0.1,$port" -b"127.0.0.1,$emu_port" --workers=1 \
    --backend-connections-per-host=128 --no-ocsp --errorlog-file="$tmp/nghttpx.log" \
    "$tmp/key.pem" "$tmp/cert.pem" 2>>"$tmp/nghttpx.log" &
  proxy_pid=$!
  for _ in $(seq 40); do grep -q "Listening on" "$tmp/nghttpx.log" 2>/dev/null && break; sleep 0.05; done
  kill -0 "$proxy_pid" 2>/dev/null && break
  proxy_pid=""
done
if [ -z "$proxy_pid" ]; then
  echo "cannot start nghttpx (the TLS front) on a free port; its log:" >&2
  cat "$tmp/nghttpx.log" >&2 2>/dev/null || true
  echo "check that nghttp2-proxy is installed (scripts/deps.sh installs it for this script)" >&2
  exit 1
fi
endpoint=https://127.0.0.1:$port
export BENCH_CA_FILE=$tmp/cert.pem
echo
echo "Through a TLS front (nghttpx, HTTP/1.1 and HTTP/2 by ALPN), 0 ms, 50 KB frames:"
floor="" ceiling=""
row 50k 0 curl-par "$(q 1500)" 16
row 50k 0 curl-h2 "$(q 1500)" 16
row 50k 0 sink "$(q 1500)" 16
unset BENCH_CA_FILE

cat <<EOF

vs-ideal: frames/s against the latency-bound ideal max-concurrency/latency (at 0 ms: against the curl-par
ceiling, marked c). vs-floor: CPU per frame against curl-seq's at 0 ms (the bare libcurl keep-alive floor)
for the same frames. 50 frames at 1000 ms: wall_s is the time for all 50 to be settled, in order, from the
first push; divided by one upload's latency (1 s) it is the settle ratio. CPU and peak memory are the row
process's own (the emulator runs in another process). At 0 ms, curl-seq and the sink rows are the
median of three interleaved runs. "sink c=16 always": spool-mode=always (every frame written to a spool in
the run's temporary folder before its upload, and removed once stored). TLS rows: curl-par is HTTP/1.1 (16
connections), curl-h2 is 16 streams on one HTTP/2 connection, the sink uses HTTP/1.1. Raw rows: moving
SMPTE bars (videotestsrc) as I420, made before the clock starts; "raw" is appsrc ! gcsframesink quality=85
(libjpeg-turbo on the upload workers, at most one encode per core at a time), "jpegenc" is appsrc !
jpegenc quality=85 ! gcsframesink; render_p50/p99 is the streaming thread's time per frame in the sink
(jpegenc's own time is before it, so not in it: compare frames/s and CPU). Machine: $(nproc) cores, $(uname -m).
EOF
echo
echo "Commands:"
printf '%s\n' "${commands[@]}"
