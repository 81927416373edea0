#!/usr/bin/env bash
# Emit latency (docs/PERFORMANCE.md, "Emit latency"): how long after a result could be written it
# is written, on live input: `iotstream simulate --rate RATE | iotstream analyze --input -`, its
# results read as they come by bench/emit_latency.py, which prints p50, p99 and max.
#
#   bench/latency.sh [RATE] [SECONDS]        defaults: 100000 readings/s for 30 s
#
# Event time: 100 ms windows, 100 ms --max-delay (a result is due when a reading stamped
# window end + max delay arrives; the simulator stamps readings with the wall clock as it writes
# them). Processing time: 100 ms batches (due at the batch end). Each with and without --http.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
rate=${1:-100000}
seconds=${2:-30}
count=$((rate * seconds))
python=${IOTSTREAM_PYTHON:-python3}

cargo build --release --quiet --manifest-path "$repo/Cargo.toml" --bin iotstream
iotstream=${IOTSTREAM_BIN:-${CARGO_TARGET_DIR:-$repo/target}/release/iotstream}

event=(--time event --window 100ms --max-delay 100ms --format jsonl -q)
processing=(--window 100ms --format jsonl -q)

measure() { # label offset analyze-flags...
  local label=$1 offset=$2
  shift 2
  printf '%s: ' "$label"
  "$iotstream" simulate "$count" --rate "$rate" -q |
    "$iotstream" analyze --input - "$@" |
    "$python" "$repo/bench/emit_latency.py" --offset "$offset" --skip 5
}

echo "== $count readings at $rate/s ($seconds s) per run; load: $(cut -d' ' -f1-3 /proc/loadavg)"
measure "event time" 0.1 "${event[@]}"
measure "event time, --http" 0.1 "${event[@]}" --http 127.0.0.1:0
measure "processing time" 0 "${processing[@]}"
measure "processing time, --http" 0 "${processing[@]}" --http 127.0.0.1:0
