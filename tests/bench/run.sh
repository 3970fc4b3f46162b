#!/usr/bin/env bash
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
# encoder's cost is not in its CPU) at several max-concurrency values, with
# emulator latency 0, 50/100 and 1000 ms.
set -euo pipefail
cd "$(dirname "$0")/../.."
scripts/deps.sh build >/dev/null
export GST_PLUGIN_PATH=$PWD/build/gst
ROW=build/tests/bench-row
EMU=build/tests/emulator/gcs-emulator
tmp=$(mktemp -d)
emu_pid=""
cleanup() {
  [ -n "$emu_pid" ] && kill "$emu_pid" 2>/dev/null && wait "$emu_pid" 2>/dev/null
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

printf '%-5s %-7s %-12s %6s %7s %8s %8s %9s %8s %15s %7s\n' size latency row frames wall_s frames/s vs-ideal \
  cpu_us/fr vs-floor render_p50/p99 peak_MB
commands=()
n=0
row() {  # SIZE LATENCY MODE FRAMES CONCURRENCY
  local size=$1 lat=$2 mode=$3 frames=$4 conc=$5 label out
  n=$((n + 1))
  label=$mode; [ "$mode" = sink ] && label="sink c=$conc"; [ "$mode" = curl-par ] && label="curl-par c=$conc"
  local cmd=("$ROW" "$mode" "$endpoint" bench "$tmp/$size" "$frames" "$conc" "r$n-")
  out=$("${cmd[@]}") || { echo "row $n failed: ${cmd[*]}" >&2; return 1; }
  commands+=("[$n] ${cmd[*]}")
  eval "$out"  # frames= wall_s= fps= cpu_us_per_frame= render_p50_us= render_p99_us= peak_rss_mb=
  local ideal="-" floor_ratio="-" render="-"
  if [ "$lat" -gt 0 ]; then
    ideal=$(awk -v f="$fps" -v c="$conc" -v l="$lat" 'BEGIN{printf "%.0f%%", 100*f/(c*1000/l)}')
  elif [ -n "${ceiling:-}" ] && [ "$mode" != curl-par ]; then
    ideal=$(awk -v f="$fps" -v c="$ceiling" 'BEGIN{printf "%.0f%%c", 100*f/c}')
  fi
  [ -n "${floor:-}" ] && floor_ratio=$(awk -v a="$cpu_us_per_frame" -v b="$floor" 'BEGIN{printf "%.2fx", a/b}')
  [ "$mode" = sink ] && render=$(printf '%.0f/%.0f' "$render_p50_us" "$render_p99_us")
  printf '%-5s %-7s %-12s %6s %7.2f %8.1f %8s %9.1f %8s %15s %7.1f\n' "$size" "${lat}ms" "$label" "$frames" \
    "$wall_s" "$fps" "$ideal" "$cpu_us_per_frame" "$floor_ratio" "$render" "$peak_rss_mb"
}

for size in 50k 300k; do
  if [ "$size" = 50k ]; then many=$(q 1500); else many=$(q 400); fi
  start_emulator 0
  floor="" ceiling=""
  row "$size" 0 curl-seq "$many" 1; floor=$cpu_us_per_frame
  row "$size" 0 curl-par "$many" 16; ceiling=$fps
  row "$size" 0 sink "$many" 1
  row "$size" 0 sink "$many" 16
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

cat <<EOF

vs-ideal: frames/s against the latency-bound ideal max-concurrency/latency (at 0 ms: against the curl-par
ceiling, marked c). vs-floor: CPU per frame against curl-seq's at 0 ms (the bare libcurl keep-alive floor)
for the same frames. 50 frames at 1000 ms: wall_s is the time for all 50 to be settled, in order, from the
first push; divided by one upload's latency (1 s) it is the settle ratio. CPU and peak memory are the row
process's own (the emulator runs in another process). Machine: $(nproc) cores, $(uname -m).
EOF
echo
echo "Commands:"
printf '%s\n' "${commands[@]}"
