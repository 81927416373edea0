#!/usr/bin/env bash
# How iotstream's cost grows with the work: instructions per reading (callgrind) against the
# number of sensors, the number of open windows and the overlap of sliding windows; memory per
# sensor (peak RSS); simulate's rate with 10M sensors.
#
#   bench/cost.sh
#
# Instruction counts do not depend on the machine's load, so they are what to compare before and
# after a change on a shared machine; wall-clock rates here (simulate's) drift with the load.
# Every callgrind run reads READINGS readings (default 200,000, as in docs/PERFORMANCE.md) on a
# simulated clock (--start, --interval), so that inputs, and counts, are the same on every run:
#   - fleet inputs: 1 ms apart (1,000 readings a second, each of 2,106 sensors about every 2 s);
#   - "dense": 1 µs apart, every reading within the same second or two, like a file made by
#     simulate without --start (the input of the counts in issue [L]);
#   - "hour": 20 ms apart, 4,000 s of event time, so that 1 hour of allowed lateness keeps about
#     3,600 one-second windows open.
#
# Environment:
#   IOTSTREAM_BIN  the iotstream binary to measure (default: build it with cargo, release)
#   BEFORE_BIN     another build to measure the open-window and slide rows with too (e.g. before a
#                  change); the slide rows' results of the two builds are compared
#   BENCH_DIR      inputs, callgrind files, logs, report.md (default: target/bench-cost in the repo)
#   READINGS       readings per callgrind run (default 200000)
#   MEMORY_MAX     largest fleet for the memory rows (default 10000000)
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
bench_dir=${BENCH_DIR:-$repo/target/bench-cost}
readings=${READINGS:-200000}
memory_max=${MEMORY_MAX:-10000000}
start=2026-01-01T00:00:00Z

case ${1:-} in
  -h | --help) sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
  '') ;;
  *) echo "error: no arguments expected (see --help)" >&2; exit 2 ;;
esac

die() { echo "error: $*" >&2; exit 1; }
step() { printf '\n==> %s\n' "$*" >&2; }
command -v valgrind >/dev/null || die "valgrind is missing (the counts are callgrind's)"
/usr/bin/time -f '%M' true 2>/dev/null || die "GNU time (/usr/bin/time) is needed for peak RSS"

if [[ -n ${IOTSTREAM_BIN:-} ]]; then
  bin=$IOTSTREAM_BIN
else
  (cd "$repo" && cargo build --release --bin iotstream) || die "cargo build --release failed"
  target_dir=${CARGO_TARGET_DIR:-target}
  [[ $target_dir == /* ]] || target_dir=$repo/$target_dir
  bin=$target_dir/release/iotstream
fi
[[ -x $bin ]] || die "no iotstream binary at $bin"
before=${BEFORE_BIN:-}
mkdir -p "$bench_dir/logs" "$bench_dir/callgrind"
report=$bench_dir/report.md
: >"$report"
out() { echo "$*" | tee -a "$report"; }

# input NAME ARGS...: NAME.jsonl, READINGS readings from the simulator with ARGS (kept between runs).
input() {
  local name=$1 file=$bench_dir/$1-$readings.jsonl
  shift
  [[ -s $file ]] || "$bin" simulate "$readings" --seed 2016 --start "$start" "$@" --output "$file"
  echo "$file"
}

# instructions NAME BIN FILE ARGS...: callgrind's instructions per reading of `analyze` on FILE.
instructions() {
  local name=$1 binary=$2 file=$3
  shift 3
  local cg=$bench_dir/callgrind/$name.out
  valgrind --tool=callgrind --callgrind-out-file="$cg" \
    "$binary" analyze --input "$file" --once --format jsonl -q "$@" \
    >"$bench_dir/logs/$name.jsonl" 2>"$bench_dir/logs/$name.valgrind"
  local total
  total=$(awk '/^(summary|totals):/ { print $2; exit }' "$cg")
  echo $((total / readings))
}

# 1234567 -> 1,234,567
n() { echo "$1" | sed -e ':a' -e 's/\B[0-9]\{3\}\>/,&/' -e 'ta'; }

out "# Cost growth: $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) CPUs, $(uname -sr)"
out ""
out "Callgrind instructions per reading, $(n "$readings") readings per run."

step "sensors"
out ""
out "| sensors | processing time, \`--threads 1\` | event time, 1-minute windows |"
out "|---:|---:|---:|"
for sensors in 2106 100000 1000000 10000000; do
  file=$(input "fleet$sensors" --interval 1ms --sensors "$sensors")
  p=$(instructions "fleet$sensors-processing" "$bin" "$file" --threads 1)
  e=$(instructions "fleet$sensors-event" "$bin" "$file" --time event --window 1m)
  out "| $(n "$sensors") | $(n "$p") | $(n "$e") |"
done

step "open windows"
out ""
out "1-second windows, readings 20 ms apart (4,000 s of event time, 50 readings a window); a window"
out "is kept until the watermark passes its end plus the allowed lateness:"
out ""
if [[ -n $before ]]; then
  out "| allowed lateness | windows kept open | before | after |"
  out "|---|---:|---:|---:|"
else
  out "| allowed lateness | windows kept open | instructions / reading |"
  out "|---|---:|---:|"
fi
file=$(input hour --interval 20ms)
for lateness in 0:0s 60:1m 3600:1h; do
  seconds=${lateness%%:*} lateness=${lateness#*:}
  i=$(instructions "open-$lateness" "$bin" "$file" --time event --window 1s --allowed-lateness "$lateness")
  if [[ -n $before ]]; then
    b=$(instructions "open-$lateness-before" "$before" "$file" --time event --window 1s --allowed-lateness "$lateness")
    out "| $lateness | $(n $((seconds + 1))) | $(n "$b") | $(n "$i") |"
  else
    out "| $lateness | $(n $((seconds + 1))) | $(n "$i") |"
  fi
done

step "slide overlap"
out ""
out "1-minute event-time windows:"
out ""
header="| input | slide | windows per reading | instructions / reading |"
rule="|---|---|---:|---:|"
if [[ -n $before ]]; then
  header="| input | slide | windows per reading | before | after | after / tumbling |"
  rule="|---|---|---:|---:|---:|---:|"
fi
out "$header"
out "$rule"
dense=$(input dense --interval 1us)
spread=$(input "fleet2106" --interval 1ms --sensors 2106)
for pair in "dense:$dense" "1 ms apart:$spread"; do
  label=${pair%%:*} file=${pair#*:}
  tumbling=
  for slide in 1m 5s 1s; do
    per=$((60 / ${slide%[ms]}))
    [[ $slide == 1m ]] && per=1
    key="slide-${label// /}-$slide"
    a=$(instructions "$key" "$bin" "$file" --time event --window 1m --slide "$slide")
    tumbling=${tumbling:-$a}
    name=$([[ $slide == 1m ]] && echo "tumbling" || echo "$slide")
    if [[ -n $before ]]; then
      b=$(instructions "$key-before" "$before" "$file" --time event --window 1m --slide "$slide")
      cmp -s <(grep -v '"stats"' "$bench_dir/logs/$key.jsonl") \
        <(grep -v '"stats"' "$bench_dir/logs/$key-before.jsonl") ||
        echo "WARNING: $key: results differ between the two builds" >&2
      ratio=$(awk -v a="$a" -v t="$tumbling" 'BEGIN { printf "%.2f", a / t }')
      out "| $label | $name | $per | $(n "$b") | $(n "$a") | $ratio |"
    else
      out "| $label | $name | $per | $(n "$a") |"
    fi
  done
done

step "memory per sensor"
out ""
out "Peak RSS of \`simulate N --sensors S | analyze --input - --once\` with N = max(S, 1M) readings"
out "1 ms apart; per sensor = growth over the 2,106-sensor run / growth in distinct sensors seen:"
out ""
out "| sensors | distinct seen | processing time: peak RSS MB | per sensor (bytes) | event time, one window over all: peak RSS MB | per sensor (bytes) |"
out "|---:|---:|---:|---:|---:|---:|"
base_seen= base_p= base_e=
for sensors in 2106 100000 1000000 10000000; do
  ((sensors <= memory_max)) || continue
  count=$((sensors > 1000000 ? sensors : 1000000))
  gen=("$bin" simulate "$count" --seed 2016 --sensors "$sensors" --start "$start" --interval 1ms)
  "${gen[@]}" | /usr/bin/time -f '%M' -o "$bench_dir/logs/mem-p.time" \
    "$bin" analyze --input - --once --format jsonl -q --threads 1 >/dev/null
  "${gen[@]}" | /usr/bin/time -f '%M' -o "$bench_dir/logs/mem-e.time" \
    "$bin" analyze --input - --once --format jsonl -q --time event --window 24h >"$bench_dir/logs/mem-e.jsonl"
  p=$(tail -n 1 "$bench_dir/logs/mem-p.time") e=$(tail -n 1 "$bench_dir/logs/mem-e.time")
  seen=$(grep '"type":"window"' "$bench_dir/logs/mem-e.jsonl" | grep -o '"sensors":[0-9]*' | head -n 1 | cut -d: -f2)
  if [[ -z $base_seen ]]; then
    base_seen=$seen base_p=$p base_e=$e
    out "| $(n "$sensors") | $(n "$seen") | $((p / 1024)) | — | $((e / 1024)) | — |"
  else
    per_p=$(((p - base_p) * 1024 / (seen - base_seen)))
    per_e=$(((e - base_e) * 1024 / (seen - base_seen)))
    out "| $(n "$sensors") | $(n "$seen") | $((p / 1024)) | $per_p | $((e / 1024)) | $per_e |"
  fi
done

step "simulate's rate"
out ""
out "| simulate, to /dev/null | readings | wall s | readings/s | peak RSS MB |"
out "|---|---:|---:|---:|---:|"
for sensors in 2106 10000000; do
  count=$((sensors > 1000000 ? sensors : 5000000))
  /usr/bin/time -f '%e %M' -o "$bench_dir/logs/sim.time" \
    "$bin" simulate "$count" --seed 2016 --sensors "$sensors" --output /dev/null
  read -r wall rss <"$bench_dir/logs/sim.time"
  rate=$(awk -v c="$count" -v w="$wall" 'BEGIN { printf "%.2fM", c / (w > 0.01 ? w : 0.01) / 1e6 }')
  out "| \`--sensors $sensors\` | $(n "$count") | $wall | $rate | $((rss / 1024)) |"
done
echo >&2
echo "report: $report" >&2
