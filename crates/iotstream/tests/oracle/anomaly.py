"""Independent oracle for anomaly rules: per sensor (by guid, in input order), an exponentially
weighted mean and variance; a reading is judged against the history before it once the sensor
has `warmup` readings: it fires when |x - mean| > z * std, and a firing sensor resolves on the
first reading within z * std. Prints one JSON object per transition, in input order.

    anomaly.py READINGS.jsonl Z ALPHA WARMUP
"""
import json
import math
import sys


def main():
    path, z, alpha, warmup = sys.argv[1], float(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4])
    sensors = {}
    for line in open(path):
        reading = json.loads(line)
        guid = reading["guid"]
        x = float(reading["payload"]["data"]["temperature"])
        s = sensors.setdefault(guid, {"n": 0, "mean": 0.0, "var": 0.0, "firing": False})
        if s["n"] >= warmup:
            std = math.sqrt(max(s["var"], 0.0))
            deviation = abs(x - s["mean"])
            fires = deviation > z * std
            bound = s["mean"] + z * std if x >= s["mean"] else s["mean"] - z * std
            if fires != s["firing"]:
                s["firing"] = fires
                status = "firing" if fires else "resolved"
                print(json.dumps({"key": guid, "status": status, "at": reading["eventTime"], "value": x, "threshold": bound}))
        if s["n"] == 0:
            s["mean"], s["var"] = x, 0.0
        else:
            diff = x - s["mean"]
            incr = alpha * diff
            s["mean"] += incr
            s["var"] = (1 - alpha) * (s["var"] + diff * incr)
        s["n"] += 1


main()
