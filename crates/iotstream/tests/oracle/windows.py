#!/usr/bin/env python3
"""An independent oracle for event-time windows: tumbling windows of W seconds over a JSON-lines
file of readings, computed with nothing but Python's json and datetime modules. Every line must be
a valid reading. Prints one JSON object per window, in window order:
{"window_start": µs, "window_end": µs, "messages", "sensors",
 "states": {code: {"messages", "sensors", "sum", "min", "max"}}}

    windows.py FILE WINDOW_SECONDS
"""
import json
import sys
from datetime import datetime


def micros(text):
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return round(moment.timestamp() * 1_000_000)


def main():
    path, seconds = sys.argv[1], int(sys.argv[2])
    size = seconds * 1_000_000
    windows = {}
    with open(path, encoding="utf-8") as lines:
        for line in lines:
            reading = json.loads(line)
            start = micros(reading["eventTime"]) // size * size
            window = windows.setdefault(start, {"guids": set(), "states": {}})
            window["guids"].add(reading["guid"])
            state = window["states"].setdefault(reading["state"], {"values": [], "guids": set()})
            state["values"].append(reading["payload"]["data"]["temperature"])
            state["guids"].add(reading["guid"])
    for start in sorted(windows):
        window = windows[start]
        states = {
            code: {"messages": len(s["values"]), "sensors": len(s["guids"]), "sum": sum(s["values"]),
                   "min": min(s["values"]), "max": max(s["values"])}
            for code, s in window["states"].items()
        }
        print(json.dumps({"window_start": start, "window_end": start + size,
                          "messages": sum(s["messages"] for s in states.values()),
                          "sensors": len(window["guids"]), "states": states}))


if __name__ == "__main__":
    main()
