#!/usr/bin/env bash
# Scale-out on one machine: CPU per million readings per instance and the group's throughput with
# 1, 2 and 3 instances, and the failover time after a kill -9, all against a local Tansu broker
# with sqlite storage (the durable engine the fault tests use).
#
#   bench/scale-out.sh [READINGS]        default 150000
#
# Environment: IOTSTREAM_BIN (a release binary; default: builds one), BENCH_DIR (default
# /tmp/iotstream-scale-out), KAFKA_PORT (default 29192).
#
# What it reports is what one 2-core machine can show: the broker (Tansu on sqlite, ~10-15k
# messages/s) bounds the group's throughput long before the engine does, so the interesting
# numbers are CPU per million readings per instance (the engine's own cost) and the failover time.
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
readings=${1:-150000}
dir=${BENCH_DIR:-/tmp/iotstream-scale-out}
export KAFKA_PORT=${KAFKA_PORT:-29192}
export TANSU_DATA_DIR=$dir/broker TANSU_STORAGE=sqlite://tansu.db
window_flags=(--time event --window 10s --max-delay 1s --idle-timeout 3s --checkpoint-interval 2s)

if [[ -z ${IOTSTREAM_BIN:-} ]]; then
  (cd "$repo" && cargo build --release --locked -p iotstream >&2)
  IOTSTREAM_BIN=${CARGO_TARGET_DIR:-$repo/target}/release/iotstream
fi
bin=$IOTSTREAM_BIN
rm -rf "$dir" && mkdir -p "$dir/broker"
"$repo/scripts/kafka-broker.sh" install
brokers=$("$repo/scripts/kafka-broker.sh" start)
trap '"$repo/scripts/kafka-broker.sh" stop >/dev/null 2>&1 || true' EXIT

# Readings over readings/1000 s of event time, keyed by guid, on 6 partitions.
"$bin" simulate "$readings" --seed 9 --start 2016-11-16T13:00:00Z --interval 1ms \
  --kafka "$brokers" --topic backlog --partitions 6 2>"$dir/produce.log"

# Final readings counted so far in the results of OUTPUT (the latest revision of each window).
counted() {
  python3 - "$@" <<'PY'
import json, sys
latest = {}
for path in sys.argv[1:]:
    try:
        lines = open(path).read().splitlines()
    except FileNotFoundError:
        continue
    for line in lines:
        if '"type":"window"' not in line:
            continue
        r = json.loads(line)
        held = latest.get(r["window_start"])
        if held is None or held["revision"] <= r["revision"]:
            latest[r["window_start"]] = r
print(sum(r["messages"] for r in latest.values()))
PY
}

echo "| instances | wall s (to all windows final) | readings/s (group) | CPU s per instance | CPU s per 1M readings it owned, per instance |"
echo "|---:|---:|---:|---|---:|"
for n in 1 2 3; do
  group="bench$n"
  pids=()
  start=$(date +%s.%N)
  for i in $(seq 1 "$n"); do
    "$bin" analyze --kafka "$brokers" --topic backlog \
      --group "$group" --scale-out "${window_flags[@]}" --format jsonl --output "$dir/$group-$i.jsonl" \
      2>"$dir/$group-$i.log" &
    pids+=($!)
  done
  while (($(counted "$dir/$group"-*.jsonl) < readings)); do sleep 0.5; done
  end=$(date +%s.%N)
  # CPU (user + system) each instance used until every window was final, from the kernel's count.
  cpu=() total=0 ticks=$(getconf CLK_TCK)
  for pid in "${pids[@]}"; do
    c=$(awk -v t="$ticks" '{printf "%.2f", ($14 + $15) / t}' "/proc/$pid/stat")
    cpu+=("$c")
    total=$(echo "$total + $c" | bc -l)
  done
  kill -TERM "${pids[@]}"
  wait "${pids[@]}" || true
  wall=$(echo "$end - $start" | bc -l)
  # Each instance reads 1/n of the readings: its CPU per million of the readings it read.
  printf '| %d | %.1f | %.0f | %s | %.2f |\n' "$n" "$wall" "$(echo "$readings / $wall" | bc -l)" \
    "${cpu[*]}" "$(echo "$total / $n / ($readings / $n) * 1000000" | bc -l)"
done

# Failover: three instances on a live, paced topic; one is killed; how long until another owner
# reports each of its partitions, and (if it was the merger) until another instance merges.
"$bin" simulate 0 --kafka "$brokers" --topic live --partitions 6 2>/dev/null
pids=()
for i in 1 2 3; do
  "$bin" analyze --kafka "$brokers" --topic live --group failover --scale-out "${window_flags[@]}" \
    --format jsonl --output "$dir/failover-$i.jsonl" 2>"$dir/failover-$i.log" &
  pids+=($!)
done
"$bin" simulate 60000 --seed 10 --start 2016-11-16T14:00:00Z --interval 1ms --rate 2000 \
  --kafka "$brokers" --topic live 2>/dev/null &
producer=$!
sleep 12
victim=2
killed_at=$(date +%s.%N)
kill -9 "${pids[$((victim - 1))]}"
wait "$producer"
sleep 5
for i in 1 3; do kill -TERM "${pids[$((i - 1))]}"; done
wait || true
python3 - "$killed_at" "$dir"/failover-1.log "$dir"/failover-3.log <<'PY'
import re, sys
from datetime import datetime, timezone
killed = float(sys.argv[1])
def at(line):
    stamp = line.split()[0].rstrip("Z")
    return datetime.fromisoformat(stamp[:26]).replace(tzinfo=timezone.utc).timestamp()
takeovers, merges = [], []
for path in sys.argv[2:]:
    for line in open(path):
        if "taken over from its saved state" in line and at(line) > killed:
            takeovers.append(at(line) - killed)
        if "now merges" in line and at(line) > killed:
            merges.append(at(line) - killed)
first = min(takeovers) if takeovers else float("nan")
last = max(takeovers) if takeovers else float("nan")
print(f"\nfailover after kill -9: partitions taken over {first:.1f}-{last:.1f} s after the kill "
      f"({len(takeovers)} takeovers); a merger elected again after "
      f"{(min(merges) if merges else float('nan')):.1f} s (if the victim merged)")
PY
