#!/usr/bin/env bash
# Is the consumer the bottleneck? Reads the same topic with a bare librdkafka consumer (no parsing,
# no engine: examples/bare_consumer.rs) and with `iotstream analyze --kafka --once`, interleaved,
# on a local Tansu broker (memory storage), and prints the rates and their ratio.
#
#   bench/kafka.sh [COUNT] [REPEAT]        defaults: 1000000 readings, 3 rounds
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
count=${1:-1000000}
repeat=${2:-3}
export KAFKA_PORT=${KAFKA_PORT:-19790}
export TANSU_DATA_DIR=${TANSU_DATA_DIR:-${TMPDIR:-/tmp}/iotstream-kafka-bench}
export TANSU_STORAGE=memory://tansu/

cargo build --release --quiet --manifest-path "$repo/Cargo.toml" --bin iotstream --example bare_consumer
target=${CARGO_TARGET_DIR:-$repo/target}
iotstream=$target/release/iotstream
bare=$target/release/examples/bare_consumer

brokers=$("$repo/scripts/kafka-broker.sh" start)
trap '"$repo/scripts/kafka-broker.sh" stop --kill >/dev/null 2>&1 || true' EXIT
"$iotstream" simulate "$count" --seed 1 --kafka "$brokers" --topic bench --partitions 4 -q

printf '| round | bare consumer msg/s | iotstream analyze msg/s | ratio |\n|---:|---:|---:|---:|\n'
for round in $(seq "$repeat"); do
  bare_rate=$("$bare" "$brokers" bench | sed -n 's/.*rate=\([0-9]*\).*/\1/p')
  start=$(date +%s.%N)
  "$iotstream" analyze --kafka "$brokers" --topic bench --once --format jsonl --group "bench-$round" --from earliest -q >/dev/null
  seconds=$(echo "$(date +%s.%N) - $start" | bc -l)
  ours=$(echo "$count / $seconds" | bc -l)
  printf '| %d | %.0f | %.0f | %.2f |\n' "$round" "$bare_rate" "$ours" "$(echo "$ours / $bare_rate" | bc -l)"
done
