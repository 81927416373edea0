#!/usr/bin/env python3
"""An independent oracle for event-time windows over a JSON-lines file of readings, computed with
nothing but Python's json and datetime modules, from the rules README.md states ("Event time").
Every line must be a valid reading. Prints one JSON object per window:
{"window_start": µs, "window_end": µs, "messages", "sensors",
 "states": {code: {"messages", "sensors", "sum", "min", "max"}}}

    windows.py FILE WINDOW_SECONDS [--slide S]
        every reading in each of its windows, one object per window in window order;

    windows.py FILE WINDOW_SECONDS [--slide S] --max-delay D [--allowed-lateness L]
        the file as one partition read in order, a line at a time: the watermark is the latest
        event time seen minus D; a reading is late for a window once the watermark (before the
        reading) has reached the window's end plus L, and late readings count nowhere; after each
        line, every window the watermark has reached the end of is emitted if it changed since it
        was last emitted ("revision" 0, then 1, 2, … as late readings update it), and forgotten
        once the watermark reaches its end plus L; the end of the file emits what is left.
        Objects come in emission order with "final": true and "revision"; a last line
        {"late": n, "late_by_state": {code: n}} counts the late readings.

Windows of W seconds start at every multiple of the slide S (default W) and cover [start, start+W).
"""
import argparse
import json
from datetime import datetime

SECOND = 1_000_000


def micros(text):
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return round(moment.timestamp() * SECOND)


def starts(t, size, slide):
    """Starts of the windows holding t: multiples of the slide in (t - size, t]."""
    start = t // slide * slide
    while start > t - size:
        yield start
        start -= slide


def summary(start, size, readings):
    by_state = {}
    for guid, state, value in readings:
        entry = by_state.setdefault(state, {"values": [], "guids": set()})
        entry["values"].append(value)
        entry["guids"].add(guid)
    states = {
        code: {"messages": len(s["values"]), "sensors": len(s["guids"]), "sum": sum(s["values"]),
               "min": min(s["values"]), "max": max(s["values"])}
        for code, s in by_state.items()
    }
    return {"window_start": start, "window_end": start + size, "messages": len(readings),
            "sensors": len({guid for guid, _, _ in readings}), "states": states}


def read(path):
    with open(path, encoding="utf-8") as lines:
        for line in lines:
            reading = json.loads(line)
            yield (micros(reading["eventTime"]), reading["guid"], reading["state"],
                   reading["payload"]["data"]["temperature"])


def batch(path, size, slide):
    windows = {}
    for t, guid, state, value in read(path):
        for start in starts(t, size, slide):
            windows.setdefault(start, []).append((guid, state, value))
    for start in sorted(windows):
        print(json.dumps(summary(start, size, windows[start])))


def emit(windows, start, size):
    window = windows[start]
    window["revision"] += 1
    window["changed"] = False
    record = {"final": True, "revision": window["revision"]}
    record.update(summary(start, size, window["readings"]))
    print(json.dumps(record))


def stream(path, size, slide, delay, lateness):
    windows = {}  # start -> {"readings", "revision" (-1 before the first emission), "changed"}
    latest = None
    late = {}
    for t, guid, state, value in read(path):
        watermark = None if latest is None else latest - delay
        counted = False
        for start in starts(t, size, slide):
            if watermark is not None and watermark >= start + size + lateness:
                continue
            window = windows.setdefault(start, {"readings": [], "revision": -1, "changed": False})
            window["readings"].append((guid, state, value))
            window["changed"] = True
            counted = True
        if not counted:
            late[state] = late.get(state, 0) + 1
        latest = t if latest is None else max(latest, t)
        watermark = latest - delay
        for start in sorted(windows):
            if start + size <= watermark and windows[start]["changed"]:
                emit(windows, start, size)
        for start in [s for s in windows if s + size + lateness <= watermark]:
            del windows[start]
    for start in sorted(windows):
        if windows[start]["changed"]:
            emit(windows, start, size)
    print(json.dumps({"late": sum(late.values()), "late_by_state": late}))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("file")
    parser.add_argument("window_seconds", type=int)
    parser.add_argument("--slide", type=int)
    parser.add_argument("--max-delay", type=int)
    parser.add_argument("--allowed-lateness", type=int, default=0)
    args = parser.parse_args()
    size = args.window_seconds * SECOND
    slide = (args.slide or args.window_seconds) * SECOND
    if args.max_delay is None:
        batch(args.file, size, slide)
    else:
        stream(args.file, size, slide, args.max_delay * SECOND, args.allowed_lateness * SECOND)


if __name__ == "__main__":
    main()
