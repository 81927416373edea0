#!/usr/bin/env bash
# Does a healthy group settle? N --scale-out instances (default 2), no fault at all, on a live
# 6-partition topic (Tansu with sqlite storage, as in the issue that found the merger role
# flipping every ~3 s): for SECONDS (default 60), then each instance's count of merger elections
# ("now merges"), losses of the role ("no longer merges") and input-group revokes.
#
#   bench/settle.sh [INSTANCES] [SECONDS]
#
# Environment: IOTSTREAM_BIN (default: builds a release binary), BENCH_DIR (default
# /tmp/iotstream-settle), KAFKA_PORT (default 29194).
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
n=${1:-2} seconds=${2:-60}
dir=${BENCH_DIR:-/tmp/iotstream-settle}
export KAFKA_PORT=${KAFKA_PORT:-29194}
export TANSU_DATA_DIR=$dir/broker TANSU_STORAGE=sqlite://tansu.db
if [[ -z ${IOTSTREAM_BIN:-} ]]; then
  (cd "$repo" && cargo build --release --locked -p iotstream >&2)
  IOTSTREAM_BIN=${CARGO_TARGET_DIR:-$repo/target}/release/iotstream
fi
bin=$IOTSTREAM_BIN
rm -rf "$dir" && mkdir -p "$dir/broker"
brokers=$("$repo/scripts/kafka-broker.sh" start)
pids=()
trap 'kill -9 "${pids[@]}" 2>/dev/null; "$repo/scripts/kafka-broker.sh" stop >/dev/null 2>&1 || true' EXIT
"$bin" simulate 0 --kafka "$brokers" --topic live --partitions 6 2>/dev/null
for i in $(seq 1 "$n"); do
  "$bin" analyze --kafka "$brokers" --topic live --group settle --scale-out --time event --window 1m \
    --format jsonl --output "$dir/$i.jsonl" 2>"$dir/$i.log" &
  pids+=($!)
done
"$bin" simulate $((seconds * 500)) --seed 11 --interval 20ms --rate 500 --kafka "$brokers" --topic live \
  2>/dev/null &
pids+=($!)
sleep "$seconds"
echo "| instance | now merges | no longer merges | input partitions revoked |"
echo "|---:|---:|---:|---:|"
for i in $(seq 1 "$n"); do
  count() { grep -c "$1" "$dir/$i.log" || true; }
  echo "| $i | $(count 'now merges') | $(count 'no longer merges') | $(count 'partitions revoked') |"
done
