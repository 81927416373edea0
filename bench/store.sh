#!/usr/bin/env bash
# The results store's speed (docs/PERFORMANCE.md, "The results store"):
#  1. backfill: a month of 1-minute event-time windows from a file (2.6 GB, 13M readings, 5 a
#     second), with no store, into SQLite and into PostgreSQL; rows written per second;
#  2. live: 1-second windows at 100,000 readings/s for 30 s, with no store, SQLite and PostgreSQL:
#     the time each window's commit takes, and the delay from a window's end to its result.
#
#   STORE_PG_URL=postgres://USER@HOST:PORT/DB bench/store.sh [ROUNDS]     (default 2 rounds)
#
# STORE_PG_URL names an empty database to use (its iotstream tables are dropped before each round);
# without it the PostgreSQL rows are left out. Set PGPASSWORD if the server wants a password.
# BENCH_DIR (default /tmp/iotstream-bench) keeps the generated month between runs.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
rounds=${1:-2}
dir=${BENCH_DIR:-${TMPDIR:-/tmp}/iotstream-bench}
pg=${STORE_PG_URL:-}
mkdir -p "$dir"

cargo build --release --quiet --manifest-path "$repo/Cargo.toml" --bin iotstream
iotstream=${CARGO_TARGET_DIR:-$repo/target}/release/iotstream
month=$dir/month-1m.jsonl
if [[ ! -s $month ]]; then
  "$iotstream" simulate 12960000 --seed 2016 --start 2016-11-01T00:00:00Z --interval 200ms --output "$month"
fi
windows=(--time event --window 1m --max-delay 1s --format jsonl --output /dev/null -q)

reset_pg() {
  psql "$pg" -qXc "DROP TABLE IF EXISTS window_states, windows, iotstream_schema" >/dev/null
}

rows_in() { # the store's row count (windows + window_states), through iotstream itself
  "$iotstream" history --store "$1" --format csv -q | tail -n +2 | wc -l |
    awk -v w="$("$iotstream" history --store "$1" -q | wc -l)" '{print $1 + w}'
}

backfill() { # label store
  local start seconds
  start=$(date +%s.%N)
  "$iotstream" analyze --input "$month" --once "${windows[@]}" --store "$2"
  seconds=$(echo "$(date +%s.%N) - $start" | bc -l)
  echo "$1 $seconds"
}

echo "== backfill: $(wc -l <"$month") readings, 1-minute windows"
printf '| round | store | wall s | rows | rows/s |\n|---:|---|---:|---:|---:|\n'
for round in $(seq "$rounds"); do
  read -r _ none < <(backfill none none)
  printf '| %d | none | %.2f | | |\n' "$round" "$none"
  rm -f "$dir/month.sqlite" "$dir/month.sqlite-wal" "$dir/month.sqlite-shm"
  read -r _ seconds < <(backfill sqlite "sqlite:$dir/month.sqlite")
  rows=$(rows_in "sqlite:$dir/month.sqlite")
  printf '| %d | SQLite | %.2f | %d | %.0f |\n' "$round" "$seconds" "$rows" "$(echo "$rows / $seconds" | bc -l)"
  if [[ -n $pg ]]; then
    reset_pg
    read -r _ seconds < <(backfill postgres "$pg")
    rows=$(rows_in "$pg")
    printf '| %d | PostgreSQL | %.2f | %d | %.0f |\n' "$round" "$seconds" "$rows" "$(echo "$rows / $seconds" | bc -l)"
  fi
done

live() { # label store port: 30 s of 1-second windows at 100k readings/s, then the metrics
  local metrics=$dir/live-$1.prom
  "$iotstream" simulate 100000000 --rate 100000 -q |
    timeout -s INT 32 "$iotstream" analyze --input - --time event --window 1s --max-delay 200ms \
      --format jsonl --output /dev/null --store "$2" --http "127.0.0.1:$3" -q &
  sleep 31
  curl -s "127.0.0.1:$3/metrics" >"$metrics"
  wait || true
  awk -v label="$1" '
    /^iotstream_readings_total / { readings = $2 }
    /^iotstream_emit_latency_seconds_sum / { lsum = $2 } /^iotstream_emit_latency_seconds_count / { lcount = $2 }
    /^iotstream_store_write_seconds_sum / { wsum = $2 } /^iotstream_store_write_seconds_count / { wcount = $2 }
    /^iotstream_store_write_seconds_bucket\{le="0.025"\}/ { w25 = $2 }
    END { printf "| %s | %d | %d | %.3f | %s | %s |\n", label, readings, lcount, lsum / lcount,
          wcount ? sprintf("%.2f", 1000 * wsum / wcount) : "", wcount ? sprintf("%d of %d", w25, wcount) : "" }' "$metrics"
}

echo
echo "== live: 1-second windows, 100,000 readings/s, 30 s"
printf '| store | readings | windows | mean s from window end to result | mean commit ms | commits within 25 ms |\n|---|---:|---:|---:|---:|---:|\n'
live none none 18601
rm -f "$dir/live.sqlite"*
live SQLite "sqlite:$dir/live.sqlite" 18602
if [[ -n $pg ]]; then
  reset_pg
  live PostgreSQL "$pg" 18603
fi
