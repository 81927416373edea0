#!/usr/bin/env bash
# Event time on every core (docs/PERFORMANCE.md, "Event time and the dashboard on every core"):
# wall clock of `analyze --once --time event --window 1m` over a file, `--threads 1` pinned to
# one CPU against `--threads 2` and `--threads 2 --http`, interleaved. On a shared machine a
# round starts only once the CPUs have been at least IDLE % idle for a second (up to 200 tries).
#
#   bench/threads.sh [COUNT] [ROUNDS]        defaults: 5000000 readings, 5 rounds; IDLE=80
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
count=${1:-5000000}
rounds=${2:-5}
idle_min=${IDLE:-80}
# The input is kept for the next run (BENCH_DIR: compare.sh's folder shares it).
dir=${BENCH_DIR:-${CARGO_TARGET_DIR:-$repo/target}/bench}
mkdir -p "$dir"

cargo build --release --quiet --manifest-path "$repo/Cargo.toml" --bin iotstream
iotstream=${IOTSTREAM_BIN:-${CARGO_TARGET_DIR:-$repo/target}/release/iotstream}
input=$dir/seed2016-$count.jsonl
[[ -s $input ]] || "$iotstream" simulate "$count" --seed 2016 --output "$input"
flags=(--input "$input" --once --time event --window 1m --format jsonl -q)

idle_percent() { # over one second, from /proc/stat
  local u n s i w i1 t1
  read -r _ u n s i w _ </proc/stat
  t1=$((u + n + s + i + w)) i1=$i
  sleep 1
  read -r _ u n s i w _ </proc/stat
  echo $((100 * (i - i1) / (u + n + s + i + w - t1)))
}

wall() { # command...: wall seconds
  local start
  start=$(date +%s.%N)
  "$@" >/dev/null
  echo "$(date +%s.%N) - $start" | bc -l
}

printf '| round (idle before, load) | pinned --threads 1 s | --threads 2 s | ratio | --threads 2 --http s | ratio |\n'
printf '|---|---:|---:|---:|---:|---:|\n'
done_rounds=0 tries=0
while ((done_rounds < rounds && tries < 200)); do
  tries=$((tries + 1))
  idle=$(idle_percent)
  ((idle >= idle_min)) || continue
  done_rounds=$((done_rounds + 1))
  load=$(cut -d' ' -f1 /proc/loadavg)
  one=$(wall taskset -c 0 "$iotstream" analyze "${flags[@]}" --threads 1)
  two=$(wall "$iotstream" analyze "${flags[@]}" --threads 2)
  http=$(wall "$iotstream" analyze "${flags[@]}" --threads 2 --http 127.0.0.1:0)
  printf '| %d (%d %%, %s) | %.2f | %.2f | %.2fx | %.2f | %.2fx |\n' "$done_rounds" "$idle" "$load" \
    "$one" "$two" "$(echo "$one / $two" | bc -l)" "$http" "$(echo "$one / $http" | bc -l)"
done
