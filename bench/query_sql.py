#!/usr/bin/env python3
"""One typical SQL query, in DuckDB or DataFusion, for `bench/compare.sh --query`.

usage: query_sql.py duckdb|datafusion INPUT.jsonl OUTPUT.json [THREADS]
       query_sql.py check IOTSTREAM.jsonl PEER.json

The query is the one iotstream runs as

    SELECT state, count(*) AS n, avg(payload.data.temperature) AS avg_t,
           max(payload.data.temperature) AS max_t
    FROM readings GROUP BY tumble(interval '1 minute'), state

written in each peer's dialect: the window's start (µs since the epoch, aligned to the minute)
computed from eventTime. The first form runs it and writes {"engine", "threads", "seconds",
"rows": [[start_us, state, n, avg_t, max_t], ...]}; the second checks a peer's rows against
iotstream's jsonl rows (counts and maxima exact, means to 1e-9 relative: the peers sum in
floating point, iotstream exactly) and prints one line, exiting 1 when they differ.

Run it with the python of the shared SQL peers' virtualenv (bench/compare.sh does).
"""
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from windowed_sql import MINUTE_US, iso_to_us  # noqa: E402  (one reading of RFC 3339 times)

SQL = """SELECT w, state, count(*) AS n, avg(t) AS avg_t, max(t) AS max_t
         FROM (SELECT {us} // {m} * {m} AS w, state, {t} AS t FROM {r}) AS readings
         GROUP BY w, state ORDER BY w, state"""

# The iotstream form of the same question (compare.sh passes it to --query).
IOTSTREAM = ("typical=SELECT state, count(*) AS n, avg(payload.data.temperature) AS avg_t, "
             "max(payload.data.temperature) AS max_t FROM readings "
             "GROUP BY tumble(interval '1 minute'), state")


def run_duckdb(path, threads):
    import duckdb

    con = duckdb.connect()
    con.execute(f"SET threads={threads}")
    src = (f"read_json('{path}', format='newline_delimited', columns={{guid:'VARCHAR', "
           "destination:'VARCHAR', state:'VARCHAR', eventTime:'VARCHAR', "
           "payload:'STRUCT(format VARCHAR, data STRUCT(temperature DOUBLE))'})")
    query = SQL.format(us='epoch_us(CAST("eventTime" AS TIMESTAMPTZ))', m=MINUTE_US,
                       t="payload.data.temperature", r=src)
    return con.execute(query).fetchall(), "duckdb " + duckdb.__version__


def run_datafusion(path, threads):
    import datafusion
    from datafusion import SessionConfig, SessionContext

    ctx = SessionContext(SessionConfig().with_target_partitions(threads))
    ctx.register_json("r", path, file_extension=path[path.rfind("."):])
    # DataFusion has no `//`: integer division of BIGINTs truncates, and event times are positive.
    query = SQL.replace("//", "/").format(
        us='CAST(to_timestamp_micros(r."eventTime") AS BIGINT)', m=MINUTE_US,
        t="r.payload['data']['temperature']", r="r")
    rows = [(x["w"], x["state"], x["n"], x["avg_t"], x["max_t"]) for x in ctx.sql(query).to_pylist()]
    return rows, "datafusion " + datafusion.__version__


def iotstream_rows(path):
    """(start_us, state) -> (n, avg, max) from iotstream's final rows of query `typical`."""
    rows = {}
    for line in open(path):
        if not line.startswith('{"query":"typical"'):
            continue
        obj = json.loads(line)
        if obj["final"]:
            rows[(iso_to_us(obj["window_start"]), obj["state"])] = (obj["n"], obj["avg_t"], obj["max_t"])
    return rows


def check(iot_path, peer_path):
    mine = iotstream_rows(iot_path)
    peer = {(int(w), s): (n, a, m) for w, s, n, a, m in json.load(open(peer_path))["rows"]}
    if not mine or mine.keys() != peer.keys():
        print(f"FAIL: (window, state) rows differ: {len(mine.keys() - peer.keys())} only in iotstream, "
              f"{len(peer.keys() - mine.keys())} only in the peer")
        return 1
    worst, bad = 0.0, []
    for key, (n, avg, top) in mine.items():
        pn, pavg, ptop = peer[key]
        rel = abs(avg - pavg) / max(abs(avg), 1e-300)
        worst = max(worst, rel)
        if n != pn or top != ptop or rel > 1e-9:
            bad.append(key)
    if bad:
        print(f"FAIL: {len(bad)} of {len(mine)} (window, state) rows differ, e.g. {bad[0]}")
        return 1
    print(f"PASS: {len(mine)} (window, state) rows; counts and maxima exact, max rel. diff of means {worst:.1e}")
    return 0


def main():
    if sys.argv[1] == "check":
        sys.exit(check(sys.argv[2], sys.argv[3]))
    if sys.argv[1] == "iotstream-query":
        print(IOTSTREAM)
        return
    engine, path, out = sys.argv[1], sys.argv[2], sys.argv[3]
    threads = int(sys.argv[4]) if len(sys.argv) > 4 else 1
    t0 = time.time()
    rows, version = {"duckdb": run_duckdb, "datafusion": run_datafusion}[engine](path, threads)
    secs = time.time() - t0
    json.dump({"engine": version, "threads": threads, "seconds": round(secs, 3),
               "rows": [list(r) for r in rows]}, open(out, "w"))
    print(f"RESULT engine={version} threads={threads} rows={len(rows)} seconds={secs:.3f}")


main()
