#!/usr/bin/env bash
# Live input at the cost of a file (docs/PERFORMANCE.md, "Live input"): the CPU (user + system)
# `iotstream analyze` spends on a pipe fed at a live rate, against what `cat` spends on the same
# kind of pipe, in each configuration (processing and event time, with and without --http);
# with --kafka also a live Kafka topic against a bare librdkafka consumer on the same topic.
#
#   bench/live.sh [RATE] [SECONDS] [ROUNDS] [--kafka]     defaults: 150000 readings/s, 10 s, 1 round
#
# The producer (`iotstream simulate --rate`) is not counted: only the reading side. Also prints
# `strace -c -f` totals (reads, futex, epoll_wait, eventfd writes per second) when strace exists.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
rate=${1:-150000}
seconds=${2:-10}
rounds=${3:-1}
kafka=${4:-}
count=$((rate * seconds))

cargo build --release --quiet --manifest-path "$repo/Cargo.toml" --bin iotstream
target=${CARGO_TARGET_DIR:-$repo/target}
iotstream=${IOTSTREAM_BIN:-$target/release/iotstream}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

cpu() { # command...: runs it under /usr/bin/time, prints user+system CPU seconds
  /usr/bin/time -f '%U %S' -o "$tmp/time" "$@" >/dev/null
  awk '{printf "%.2f", $1 + $2}' "$tmp/time"
}

piped() { # reader command...: simulate | reader, prints the reader's CPU seconds
  "$iotstream" simulate "$count" --rate "$rate" -q | cpu "$@"
}

declare -A configs=(
  [processing]="--format jsonl -q"
  [event]="--time event --window 1s --max-delay 200ms --format jsonl -q"
  [processing+http]="--format jsonl -q --http 127.0.0.1:0"
  [event+http]="--time event --window 1s --max-delay 200ms --format jsonl -q --http 127.0.0.1:0"
)
order=(processing event processing+http event+http)

echo "== pipe: $count readings at $rate/s ($seconds s), load: $(cut -d' ' -f1-3 /proc/loadavg)"
printf '| round | configuration | cat CPU s | analyze CPU s | ratio |\n|---:|---|---:|---:|---:|\n'
for round in $(seq "$rounds"); do
  for name in "${order[@]}"; do
    cat_cpu=$(piped cat)
    # shellcheck disable=SC2086 # the flags are words
    ours=$(piped "$iotstream" analyze --input - ${configs[$name]})
    printf '| %d | %s | %s | %s | %.1fx |\n' "$round" "$name" "$cat_cpu" "$ours" \
      "$(echo "$ours / $cat_cpu" | bc -l)"
  done
done

if command -v strace >/dev/null; then
  echo
  echo "== strace -c -f, event time, $((count / 5)) readings: system calls per second"
  "$iotstream" simulate "$((count / 5))" --rate "$rate" -q |
    strace -c -f -o "$tmp/strace" "$iotstream" analyze --input - ${configs[event]} >/dev/null
  awk -v s="$((seconds / 5))" '$NF ~ /^(read|futex|epoll_wait|write|poll|ppoll|nanosleep|clock_nanosleep)$/ \
    {printf "%s %.0f/s\n", $NF, $4 / (s > 0 ? s : 1)}' "$tmp/strace"
fi

[[ $kafka == --kafka ]] || exit 0

# Kafka: both consumers start at the topic's end, then the producer writes at the live rate;
# each stops once it has read every message (iotstream: SIGTERM after the producer is done).
cargo build --release --quiet --manifest-path "$repo/Cargo.toml" --example bare_consumer
bare=$target/release/examples/bare_consumer
export KAFKA_PORT=${KAFKA_PORT:-19791}
export TANSU_DATA_DIR=${TANSU_DATA_DIR:-$tmp/tansu}
export TANSU_STORAGE=memory://tansu/
brokers=$("$repo/scripts/kafka-broker.sh" start)
# The broker keeps its pid in its data directory: stop it before the directory goes.
trap '"$repo/scripts/kafka-broker.sh" stop --kill >/dev/null 2>&1 || true; rm -rf "$tmp"' EXIT

kafka_round() { # label analyze-flags...
  local label=$1 topic="live-$RANDOM" pid
  shift
  "$iotstream" simulate 1 --kafka "$brokers" --topic "$topic" --partitions 4 -q
  /usr/bin/time -f '%U %S' -o "$tmp/bare" "$bare" "$brokers" "$topic" --live "$count" >/dev/null &
  local bare_pid=$!
  /usr/bin/time -f '%U %S' -o "$tmp/ours" "$iotstream" analyze --kafka "$brokers" --topic "$topic" \
    --group "g-$topic" --from latest "$@" >/dev/null &
  pid=$!
  sleep 6 # both have joined and sit at the end
  "$iotstream" simulate "$count" --rate "$rate" --kafka "$brokers" --topic "$topic" -q
  wait "$bare_pid"
  sleep 1
  # SIGTERM to analyze itself (the child of /usr/bin/time): a clean stop.
  pkill -TERM -P "$pid" 2>/dev/null || true
  wait "$pid" || true
  local b o
  b=$(tail -n 1 "$tmp/bare" | awk '{printf "%.2f", $1 + $2}')
  o=$(tail -n 1 "$tmp/ours" | awk '{printf "%.2f", $1 + $2}')
  printf '| %s | %s | %s | %.1fx |\n' "$label" "$b" "$o" "$(echo "$o / $b" | bc -l)"
}

echo
echo "== Kafka, 4 partitions: $count readings at $rate/s, load: $(cut -d' ' -f1-3 /proc/loadavg)"
printf '| configuration | bare consumer CPU s | analyze CPU s | ratio |\n|---|---:|---:|---:|\n'
for round in $(seq "$rounds"); do
  kafka_round processing --format jsonl -q
  kafka_round event --time event --window 1s --max-delay 200ms --format jsonl -q
  kafka_round event+http --time event --window 1s --max-delay 200ms --format jsonl -q --http 127.0.0.1:0
done
