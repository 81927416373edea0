#!/usr/bin/env python3
"""Emit latency of a live `iotstream analyze`: reads its jsonl results on stdin as they are
written, and for each first final result of a window measures how long after the moment it could
be emitted it arrived here:

- event time: the watermark passes a window's end when a reading stamped `end + max_delay`
  arrives; `iotstream simulate --rate` stamps readings with the wall clock as it writes them, so
  that moment is `window_end + max_delay` on the wall clock;
- processing time: a batch ends at its `window_end` (wall clock).

Prints p50, p99 and max in milliseconds, as one JSON object. Results that the end of input
flushed (before their moment: a negative latency) and the first `--skip` results (start-up) are
left out.

    iotstream simulate 3000000 --rate 100000 | iotstream analyze --input - --format jsonl \\
        --time event --window 1s --max-delay 200ms | emit_latency.py --offset 0.2
"""

import argparse
import json
import sys
import time
from datetime import datetime


def parse_time(text):
    """RFC 3339 (with Z) to Unix seconds."""
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def percentile(sorted_values, q):
    """Nearest-rank percentile of an ascending list."""
    if not sorted_values:
        return float("nan")
    rank = max(1, min(len(sorted_values), round(q / 100 * len(sorted_values) + 0.5)))
    return sorted_values[rank - 1]


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--offset", type=float, default=0.0, help="seconds after window_end a result is due (event time: --max-delay)")
    parser.add_argument("--skip", type=int, default=1, help="first results to leave out (default 1)")
    args = parser.parse_args()
    latencies, flushed, seen = [], 0, 0
    for line in sys.stdin:
        arrived = time.time()
        record = json.loads(line)
        if record.get("type") != "window" or not record.get("final") or record.get("revision", 0) != 0:
            continue
        seen += 1
        if seen <= args.skip:
            continue
        latency = arrived - (parse_time(record["window_end"]) + args.offset)
        if latency < 0:
            flushed += 1
            continue
        latencies.append(latency * 1000)
    latencies.sort()
    print(json.dumps({
        "results": len(latencies),
        "p50_ms": round(percentile(latencies, 50), 2),
        "p99_ms": round(percentile(latencies, 99), 2),
        "max_ms": round(latencies[-1], 2) if latencies else None,
        "flushed_at_end": flushed,
    }))


if __name__ == "__main__":
    main()
