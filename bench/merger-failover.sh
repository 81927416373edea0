#!/usr/bin/env bash
# Merger failover: three --scale-out instances on a live, paced topic (Tansu, memory storage);
# the merger is kill -9ed KILLS times (default 10), a new instance started after each; for each
# kill, the time until another instance logs that it now merges. The merger is elected from the
# group's control log (leases every second, a new term once the merger's stop for 6 s), so the
# expected figure is 5-6 s plus at most a step of 0.1 s: never the broker's coordinator.
#
#   bench/merger-failover.sh [KILLS]
#
# Environment: IOTSTREAM_BIN (default: builds a release binary), BENCH_DIR (default
# /tmp/iotstream-merger-failover), KAFKA_PORT (default 29193).
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
kills=${1:-10}
dir=${BENCH_DIR:-/tmp/iotstream-merger-failover}
export KAFKA_PORT=${KAFKA_PORT:-29193}
export TANSU_DATA_DIR=$dir/broker TANSU_STORAGE=memory://tansu/
window_flags=(--time event --window 10s --max-delay 1s --idle-timeout 3s --checkpoint-interval 2s)

if [[ -z ${IOTSTREAM_BIN:-} ]]; then
  (cd "$repo" && cargo build --release --locked -p iotstream >&2)
  IOTSTREAM_BIN=${CARGO_TARGET_DIR:-$repo/target}/release/iotstream
fi
bin=$IOTSTREAM_BIN
rm -rf "$dir" && mkdir -p "$dir/broker"
brokers=$("$repo/scripts/kafka-broker.sh" start)
declare -A pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill -9 "$pid" 2>/dev/null || true; done
  [[ -n ${producer:-} ]] && kill -9 "$producer" 2>/dev/null || true
  "$repo/scripts/kafka-broker.sh" stop >/dev/null 2>&1 || true
}
trap cleanup EXIT

start() {
  "$bin" analyze --kafka "$brokers" --topic live --group failover --scale-out "${window_flags[@]}" \
    --format jsonl --output "$dir/$1.jsonl" 2>"$dir/$1.log" &
  pids[$1]=$!
}
# The live instance whose log says last that it merges, if any.
merger() {
  for name in "${!pids[@]}"; do
    last=$(grep -oE 'now merges|no longer merges' "$dir/$name.log" | tail -1 || true)
    [[ $last == "now merges" ]] && echo "$name" && return
  done
  true
}
elections() { cat "${@/#/$dir/}" 2>/dev/null | grep -c 'now merges' || true; }

"$bin" simulate 0 --kafka "$brokers" --topic live --partitions 6 2>/dev/null
for name in i1 i2 i3; do start "$name"; done
"$bin" simulate $((kills * 20000 + 40000)) --seed 10 --start 2016-11-16T14:00:00Z --interval 1ms \
  --rate 1000 --kafka "$brokers" --topic live 2>/dev/null &
producer=$!
times=()
for k in $(seq 1 "$kills"); do
  deadline=$((SECONDS + 30))
  until m=$(merger) && [[ -n $m ]]; do
    ((SECONDS < deadline)) || { echo "no merger after 30 s" >&2; exit 1; }
    sleep 0.1
  done
  kill -9 "${pids[$m]}"
  killed=$(date +%s.%N)
  unset "pids[$m]"
  others=("${!pids[@]}")
  before=$(elections "${others[@]/%/.log}")
  until (($(elections "${others[@]/%/.log}") > before)); do sleep 0.05; done
  took=$(echo "$(date +%s.%N) - $killed" | bc -l)
  times+=("$(printf '%.2f' "$took")")
  echo "kill $k: merger $m, another merges after ${times[-1]} s" >&2
  start "i$((k + 3))"
  sleep 3
done
sorted=$(printf '%s\n' "${times[@]}" | sort -n | paste -sd' ')
echo "merger failover over $kills kills (s, sorted): $sorted"
