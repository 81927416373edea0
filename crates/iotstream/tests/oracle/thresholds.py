#!/usr/bin/env python3
"""Independent oracle for threshold alert rules, from docs/ALERTS.md's words and nothing of the
engine's: per rule and key, an observation meets the fire condition (`value OP fire`) or not; an
alert fires after FOR consecutive observations that meet it, stays firing while `value OP clear`
holds, and resolves at the first observation where it does not.

Observations: a window's per-state statistics (scope "state", key: the state; a state without
readings in a window is no observation), the whole window's (scope "fleet", key "fleet"), or each
reading of a sensor in input order (scope "sensor", key: its guid). Windows are tumbling, of
WINDOW_SECONDS, computed here from the readings (which must all be valid and none late).

Prints one JSON object per transition: {"rule", "key", "status", "at", "value"} (at: the window's
end, or the reading's event time, in microseconds since the epoch), window rules in window order,
then sensor rules in input order.

    thresholds.py READINGS.jsonl WINDOW_SECONDS RULES.json
RULES.json: [{"id", "scope", "metric", "op", "fire", "clear", "for", "states"}...]
"""
import json
import operator
import sys
from datetime import datetime

OPS = {">": operator.gt, ">=": operator.ge, "<": operator.lt, "<=": operator.le}


def micros(text):
    return round(datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp() * 1_000_000)


def windows(readings, size):
    """{start: {state: [temperatures]}} in window order."""
    out = {}
    for r in readings:
        start = micros(r["eventTime"]) // size * size
        out.setdefault(start, {}).setdefault(r["state"], []).append(r["payload"]["data"]["temperature"])
    return dict(sorted(out.items()))


def stat(values, metric):
    if metric == "avg_temperature":
        return sum(values) / len(values)
    if metric == "min_temperature":
        return min(values)
    if metric == "max_temperature":
        return max(values)
    raise SystemExit(f"metric {metric} is not known to this oracle")


class Machine:
    """One (rule, key): normal or pending (a streak of observations that fire), or firing."""

    def __init__(self, rule):
        self.rule, self.streak, self.firing = rule, 0, False

    def observe(self, value):
        rule, op = self.rule, OPS[self.rule["op"]]
        if self.firing:
            if op(value, rule.get("clear", rule["fire"])):
                return None
            self.firing, self.streak = False, 0
            return "resolved"
        self.streak = self.streak + 1 if op(value, rule["fire"]) else 0
        if self.streak >= rule.get("for", 1):
            self.firing = True
            return "firing"
        return None


def main():
    path, seconds, rules_path = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    rules = json.load(open(rules_path))
    readings = [json.loads(line) for line in open(path)]
    size = seconds * 1_000_000
    machines = {}

    def judge(rule, key, value, at):
        machine = machines.setdefault((rule["id"], key), Machine(rule))
        status = machine.observe(value)
        if status:
            print(json.dumps({"rule": rule["id"], "key": key, "status": status, "at": at, "value": value}))

    for start, states in windows(readings, size).items():
        for rule in rules:
            wanted = rule.get("states")
            if rule["scope"] == "state":
                for state in sorted(states):
                    if wanted is None or state in wanted:
                        judge(rule, state, stat(states[state], rule["metric"]), start + size)
            elif rule["scope"] == "fleet":
                values = [t for state, ts in states.items() if wanted is None or state in wanted for t in ts]
                if values:
                    judge(rule, "fleet", stat(values, rule["metric"]), start + size)
    for r in readings:
        for rule in rules:
            wanted = rule.get("states")
            if rule["scope"] == "sensor" and (wanted is None or r["state"] in wanted):
                judge(rule, r["guid"], float(r["payload"]["data"]["temperature"]), micros(r["eventTime"]))


main()
