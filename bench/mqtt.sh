#!/usr/bin/env bash
# Is iotstream the bottleneck when reading MQTT? Queues COUNT readings (QoS 1) on a local
# Mosquitto for four persistent sessions, then drains each: a bare rumqttc subscriber (the same
# client library, no parsing, no engine: examples/bare_mqtt.rs), a bare paho-mqtt subscriber
# (Python, bench/mqtt_drain.py), `iotstream analyze --mqtt`, and the same with `--state-dir`
# (acknowledgements wait for checkpoints). Prints each rate and its ratio to the bare rumqttc
# subscriber's; every rate includes connecting.
#
#   bench/mqtt.sh [COUNT]        default: 200000 readings
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
count=${1:-200000}
python=${IOTSTREAM_PYTHON:-python3}
work=$(mktemp -d)
port=$((20000 + RANDOM % 20000))
cat >"$work/mosquitto.conf" <<CONF
listener $port 127.0.0.1
allow_anonymous true
max_queued_messages 0
max_inflight_messages 0
user root
CONF
mosquitto -c "$work/mosquitto.conf" >"$work/mosquitto.log" 2>&1 &
broker=$!
trap 'kill $broker 2>/dev/null; rm -rf "$work"' EXIT
sleep 0.5

cargo build --release --quiet --manifest-path "$repo/Cargo.toml" --bin iotstream --example bare_mqtt
iotstream=${CARGO_TARGET_DIR:-$repo/target}/release/iotstream
bare_rust=${CARGO_TARGET_DIR:-$repo/target}/release/examples/bare_mqtt
url=mqtt://127.0.0.1:$port

# The sessions exist before the readings are published, so the broker queues them for each.
"$python" "$repo/bench/mqtt_drain.py" 127.0.0.1 "$port" bare bench "$count" --prepare
"$bare_rust" 127.0.0.1 "$port" bare-rust bench "$count" --prepare
for id in engine engine-state; do
  "$iotstream" analyze --mqtt "$url" --mqtt-client-id "$id" --mqtt-topic bench --format jsonl -q >/dev/null &
  sleep 1
  kill -TERM $! && wait $! || true
done
"$iotstream" simulate "$count" --seed 1 --mqtt "$url" --mqtt-topic bench -q

# Seconds until analyze has counted COUNT readings (its stats records say), then stops it.
drain() {
  local out=$work/$1.jsonl
  shift
  local start
  start=$(date +%s.%N)
  "$iotstream" analyze --mqtt "$url" --mqtt-topic bench --format jsonl --output "$out" \
    --stats-every 50ms -q "$@" &
  local pid=$!
  until grep -q "\"readings\":$count," "$out" 2>/dev/null; do sleep 0.02; done
  echo "$(date +%s.%N) - $start" | bc -l
  kill -TERM $pid && wait $pid || true
}

bare=$("$bare_rust" 127.0.0.1 "$port" bare-rust bench "$count")
paho=$("$python" "$repo/bench/mqtt_drain.py" 127.0.0.1 "$port" bare bench "$count")
plain=$(echo "$count / $(drain plain --mqtt-client-id engine)" | bc -l)
state=$(echo "$count / $(drain state --mqtt-client-id engine-state --state-dir "$work/state")" | bc -l)
printf '| reader | readings/s | ratio to bare |\n|---|---:|---:|\n'
printf '| bare rumqttc subscriber | %.0f | 1.00 |\n' "$bare"
printf '| bare paho-mqtt subscriber (Python) | %.0f | %.2f |\n' "$paho" "$(echo "$paho / $bare" | bc -l)"
printf '| iotstream analyze --mqtt | %.0f | %.2f |\n' "$plain" "$(echo "$plain / $bare" | bc -l)"
printf '| iotstream analyze --mqtt --state-dir | %.0f | %.2f |\n' "$state" "$(echo "$state / $bare" | bc -l)"
