#!/usr/bin/env bash
# One typical SQL query: iotstream against DuckDB and DataFusion, one thread each, on the same file,
# in one run, answers compared. Run as `bench/compare.sh --query [COUNT]` (or directly).
#
#   bench/query.sh [COUNT]       (default 2000000 readings, --seed 2016, 1 ms apart)
#
# The query (bench/query_sql.py has each peer's dialect of it):
#   SELECT state, count(*) AS n, avg(payload.data.temperature) AS avg_t,
#          max(payload.data.temperature) AS max_t
#   FROM readings GROUP BY tumble(interval '1 minute'), state
# iotstream runs it with `analyze --query … --threads 1 --once --format jsonl`; the peers read the
# same JSON lines with one thread. Every engine is pinned to one CPU (taskset, when there is one):
# iotstream's file reader is a thread of its own, and one core is what "one thread each" means. Each engine runs REPEAT times (default 3), interleaved; the
# median wall time is reported, and ratios against iotstream, measured in the same run (absolute
# numbers on a shared machine drift; ratios in one run do not). Every peer's rows are checked
# against iotstream's (bench/query_sql.py check): a fast wrong answer is worth nothing.
#
# Environment: IOTSTREAM_BIN (a built binary; else cargo builds the release one), BENCH_DIR
# (default /tmp/iotstream-bench), REPEAT, IOTSTREAM_SHARED (the folder with peers/sql/run.sh),
# PEERS_SQL_VENV.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
shared=${IOTSTREAM_SHARED:-$repo/../shared}
bench_dir=${BENCH_DIR:-/tmp/iotstream-bench}
repeat=${REPEAT:-3}
count=${1:-2000000}
[[ $count =~ ^[0-9]+$ ]] && ((count > 0)) || { echo "usage: bench/compare.sh --query [COUNT]" >&2; exit 2; }
die() { echo "error: $*" >&2; exit 1; }
[[ -x /usr/bin/time ]] || die "GNU time (/usr/bin/time) is missing"

if [[ -n ${IOTSTREAM_BIN:-} ]]; then
  bin=$IOTSTREAM_BIN
else
  (cd "$repo" && cargo build --release --bin iotstream) || die "cargo build --release failed"
  target_dir=${CARGO_TARGET_DIR:-$repo/target}
  bin=$target_dir/release/iotstream
fi
sql_run=$shared/peers/sql/run.sh
[[ -x $sql_run ]] || die "no SQL peers at $sql_run (set IOTSTREAM_SHARED)"
venv=${PEERS_SQL_VENV:-$(sed -n 's/^venv=\${PEERS_SQL_VENV:-\(.*\)}$/\1/p' "$sql_run")}
mkdir -p "$bench_dir/query"
dir=$bench_dir/query
if [[ ! -x $venv/bin/python ]]; then # run.sh installs the peers on first use
  printf '{"guid":"g","state":"CA","payload":{"data":{"temperature":1.0}}}\n' >"$dir/warm.jsonl"
  "$sql_run" duckdb "$dir/warm.jsonl" "$dir/warm.json" 1 >/dev/null
fi
python=$venv/bin/python
peer=$repo/bench/query_sql.py
query=$("$python" "$peer" iotstream-query)

input=$dir/event-$count.jsonl
if [[ ! -s $input ]] || (($(wc -l <"$input") != count)); then
  "$bin" simulate "$count" --seed 2016 --start 2026-01-01T00:00:00Z --interval 1ms --output "$dir/tmp.jsonl"
  mv "$dir/tmp.jsonl" "$input"
fi
cat "$input" >/dev/null

: >"$dir/times.tsv"
pin=()
if command -v taskset >/dev/null && taskset -c 0 true 2>/dev/null; then pin=(taskset -c 0); fi
timed() { # NAME CMD...: one run, its wall time appended to times.tsv
  local name=$1
  shift
  /usr/bin/time -f '%e %M' -o "$dir/$name.time" "${pin[@]}" "$@" >"$dir/$name.out" 2>"$dir/$name.err" ||
    die "$name failed: $(tail -n 1 "$dir/$name.err")"
  local inside=- # the peers' own timing of the query alone, without starting Python
  [[ -s $dir/$name.json ]] && inside=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["seconds"])' "$dir/$name.json")
  printf '%s\t%s\t%s\n' "$name" "$(cat "$dir/$name.time")" "$inside" >>"$dir/times.tsv"
}
for ((round = 1; round <= repeat; round++)); do
  echo "round $round/$repeat" >&2
  timed iotstream "$bin" analyze --input "$input" --once --format jsonl -q --threads 1 --query "$query"
  timed duckdb "$python" "$peer" duckdb "$input" "$dir/duckdb.json" 1
  timed datafusion "$python" "$peer" datafusion "$input" "$dir/datafusion.json" 1
done
for engine in duckdb datafusion; do
  echo "$engine: $("$python" "$peer" check "$dir/iotstream.out" "$dir/$engine.json")"
done
python3 - "$dir/times.tsv" "$count" <<'PY'
import statistics, sys
runs = {}
for line in open(sys.argv[1]):
    name, wall, rss, inside = line.split()
    runs.setdefault(name, []).append((float(wall), int(rss), inside))
count = int(sys.argv[2])
base = statistics.median(w for w, _, _ in runs["iotstream"])
print(f"\n| engine (1 CPU), {count:,} readings | median wall s (process) | readings/s | vs iotstream "
      "| query alone s (in Python) | vs iotstream | max RSS MB |")
print("|---|---:|---:|---:|---:|---:|---:|")
for name, rows in runs.items():
    wall = statistics.median(w for w, _, _ in rows)
    rss = max(r for _, r, _ in rows) / 1024
    inside = [float(i) for _, _, i in rows if i != "-"]
    alone = f"{statistics.median(inside):.2f} | {statistics.median(inside) / base:.2f}x" if inside else "– | –"
    print(f"| {name} | {wall:.2f} | {count / wall:,.0f} | {wall / base:.2f}x | {alone} | {rss:.0f} |")
PY
