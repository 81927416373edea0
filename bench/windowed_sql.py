#!/usr/bin/env python3
"""The event-time question with an embedded SQL engine: 1-minute tumbling windows by state.

usage: windowed_sql.py duckdb|datafusion INPUT.jsonl OUTPUT.json [THREADS]
       windowed_sql.py check IOTSTREAM.jsonl PEER.json

Per window (start in µs since the epoch, aligned to the minute, as iotstream's) and state: the
readings, their mean temperature and the distinct sensors. The first form runs the query and
writes {"engine", "threads", "seconds", "rows": [[start_us, state, count, avg, sensors], ...]};
the second checks a peer's rows against iotstream's `--time event --window 1m` results (counts
and distinct sensors exact, means to 1e-9 relative: the peers sum in floating point) and prints
one line, exiting 1 when they differ.

Run it with the python of the shared SQL peers' virtualenv (bench/compare.sh does).
"""
import json
import sys
import time

MINUTE_US = 60_000_000

QUERY = """SELECT w, state, count(*) AS n, avg({t}) AS avg_t, count(DISTINCT guid) AS sensors
           FROM (SELECT {us} // {m} * {m} AS w, state, guid, {t2} FROM {r}) AS readings
           GROUP BY w, state ORDER BY w, state"""


def run_duckdb(path, threads):
    import duckdb

    con = duckdb.connect()
    con.execute(f"SET threads={threads}")
    src = (f"read_json('{path}', format='newline_delimited', columns={{guid:'VARCHAR', "
           "destination:'VARCHAR', state:'VARCHAR', eventTime:'VARCHAR', "
           "payload:'STRUCT(format VARCHAR, data STRUCT(temperature DOUBLE))'})")
    query = QUERY.format(us='epoch_us(CAST("eventTime" AS TIMESTAMPTZ))', m=MINUTE_US, t="temperature",
                         t2="payload.data.temperature AS temperature", r=src)
    return con.execute(query).fetchall(), "duckdb " + duckdb.__version__


def run_datafusion(path, threads):
    import datafusion
    from datafusion import SessionConfig, SessionContext

    ctx = SessionContext(SessionConfig().with_target_partitions(threads))
    ctx.register_json("r", path, file_extension=path[path.rfind("."):])
    # DataFusion has no `//`: integer division of BIGINTs truncates, and event times are positive.
    query = QUERY.replace("//", "/").format(
        us='CAST(to_timestamp_micros(r."eventTime") AS BIGINT)', m=MINUTE_US, t="temperature",
        t2="r.payload['data']['temperature'] AS temperature", r="r")
    rows = [(x["w"], x["state"], x["n"], x["avg_t"], x["sensors"]) for x in ctx.sql(query).to_pylist()]
    return rows, "datafusion " + datafusion.__version__


def iotstream_rows(path):
    """(start_us, state) -> (count, avg, sensors) from iotstream's final window results."""
    rows = {}
    for line in open(path):
        obj = json.loads(line)
        if obj.get("type") != "window" or not obj.get("final", True):
            continue
        start = iso_to_us(obj["window_start"])
        for s in obj["states"]:
            rows[(start, s["state"])] = (s["messages"], s["avg_temperature"], s["sensors"])
    return rows


def iso_to_us(text):
    """RFC 3339 UTC ("…Z", optional fraction) -> µs since the epoch, exactly."""
    from datetime import datetime, timezone

    main, _, frac = text.rstrip("Z").partition(".")
    seconds = datetime.strptime(main, "%Y-%m-%dT%H:%M:%S").replace(tzinfo=timezone.utc).timestamp()
    return int(seconds) * 1_000_000 + int((frac + "000000")[:6])


def check(iot_path, peer_path):
    mine = iotstream_rows(iot_path)
    peer = {(int(w), s): (n, a, d) for w, s, n, a, d in json.load(open(peer_path))["rows"]}
    if mine.keys() != peer.keys():
        only_mine, only_peer = len(mine.keys() - peer.keys()), len(peer.keys() - mine.keys())
        print(f"FAIL: (window, state) pairs differ: {only_mine} only in iotstream, {only_peer} only in the peer")
        return 1
    worst, bad = 0.0, []
    for key, (n, avg, sensors) in mine.items():
        pn, pavg, psensors = peer[key]
        rel = abs(avg - pavg) / max(abs(avg), 1e-300)
        worst = max(worst, rel)
        if n != pn or sensors != psensors or rel > 1e-9:
            bad.append(key)
    windows = len({w for w, _ in mine})
    if bad:
        print(f"FAIL: {len(bad)} of {len(mine)} (window, state) rows differ, e.g. {bad[0]}")
        return 1
    print(f"PASS: {windows} windows, {len(mine)} (window, state) rows; counts and distinct sensors "
          f"exact, max rel. diff of means {worst:.1e}")
    return 0


def main():
    if sys.argv[1] == "check":
        sys.exit(check(sys.argv[2], sys.argv[3]))
    engine, path, out = sys.argv[1], sys.argv[2], sys.argv[3]
    threads = int(sys.argv[4]) if len(sys.argv) > 4 else 1
    t0 = time.time()
    rows, version = {"duckdb": run_duckdb, "datafusion": run_datafusion}[engine](path, threads)
    secs = time.time() - t0
    json.dump({"engine": version, "threads": threads, "seconds": round(secs, 3),
               "rows": [list(r) for r in rows]}, open(out, "w"))
    print(f"RESULT engine={version} threads={threads} rows={len(rows)} seconds={secs:.3f}")


if __name__ == "__main__":
    main()
