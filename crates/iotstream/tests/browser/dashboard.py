"""Drives the dashboard in headless Chromium (Debian's chromium + chromedriver, via Selenium).

Usage: dashboard.py URL SCREENSHOT

Waits for the map and table to fill, waits for the next result, hovers a state, sorts the table by
mouse and by keyboard, focuses a state on the map, looks up an unknown sensor, saves a screenshot,
then cuts the page's network for a moment and checks that the charts fill the gap once the event
stream reconnects, and that the map and the history load fail independently. Checks of its own fail
the script (exit status 1, the reason on stderr); what it saw is printed as JSON for the Rust test.
"""

import json
import os
import socket
import sys
import threading
import time
import urllib.parse
import urllib.request
from datetime import datetime

from selenium import webdriver
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys

SNAPSHOT = """
// Taken at any moment, also before the map is drawn: every lookup tolerates a missing element.
const q = (s) => document.querySelector(s);
const row = (code) => [...document.querySelectorAll('#states tbody tr')].find(r => r.dataset.state === code);
const ca = row('CA');
const shown = (id) => { const e = document.getElementById(id); return e && !e.hidden ? e.textContent : null; };
return {
  rows: document.querySelectorAll('#states tbody tr').length,
  paths: document.querySelectorAll('#map path.state').length,
  painted: [...document.querySelectorAll('#map path.state')].filter(p => p.style.fill).length,
  readings: q('#t-readings').textContent,
  rate: q('#t-rate').textContent,
  line: q('#window-line').textContent,
  badge: q('#connection').textContent,
  map_ca: q('#map path[data-state="CA"]')?.dataset.avg || null,
  map_ca_fill: q('#map path[data-state="CA"]')?.style.fill || null,
  table_ca: ca ? ca.cells[1].textContent : null,
  first_row: q('#states tbody tr') ? q('#states tbody tr').dataset.state : null,
  charts: document.querySelectorAll('.chart canvas').length,
  windows: Number(q('#results-chart').dataset.windows || 0),
  rate_points: Number(q('#rate-chart').dataset.points || 0),
  syncs: Number(document.body.dataset.syncs || 0),
  reconnects: Number(document.body.dataset.reconnects || 0),
  map_error: shown('map-error'),
  history_error: shown('history-error'),
  tooltip: q('#tooltip').hidden ? null : q('#tooltip').innerText,
};
"""

# What the charts hold: the windows the page keeps, and the x values actually drawn.
CHARTED = """
const d = window.dashboard;
return {
  finals: d.windows().filter(w => w.final).map(w => w.key),
  results_x: Array.from(d.view.charts.results.data[0]),
  rate_x: Array.from(d.view.charts.rate.data[0]),
};
"""


class Proxy:
    """A TCP relay between the browser and the server, which the test can cut like a failing network
    (DevTools' offline mode leaves an open event stream alone)."""

    def __init__(self, url):
        target = urllib.parse.urlsplit(url)
        self.target = (target.hostname, target.port)
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.listener.getsockname()[1]}/"
        self.down = False
        self.lock = threading.Lock()
        self.open = set()
        threading.Thread(target=self.accept, daemon=True).start()

    def accept(self):
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            with self.lock:
                if self.down:
                    client.close()
                    continue
            try:
                upstream = socket.create_connection(self.target)
            except OSError:
                client.close()
                continue
            with self.lock:
                self.open.update((client, upstream))
            for source, sink in ((client, upstream), (upstream, client)):
                threading.Thread(target=self.pump, args=(source, sink), daemon=True).start()

    def pump(self, source, sink):
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        finally:
            self.drop(source, sink)

    def drop(self, *sockets):
        for s in sockets:
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            s.close()
            with self.lock:
                self.open.discard(s)

    def cut(self):
        """Drops every connection, and refuses new ones until `restore`."""
        with self.lock:
            self.down = True
            dropped = list(self.open)
        self.drop(*dropped)

    def restore(self):
        with self.lock:
            self.down = False


LATE_KEY = "2000-01-01T00:00:00Z|2000-01-01T00:00:01Z"
REVISIONS = """
const d = window.dashboard;
const result = (final, revision, messages) => JSON.stringify({type: 'window', final, revision, messages,
  window_start: '2000-01-01T00:00:00Z', window_end: '2000-01-01T00:00:01Z', sensors: 1, rejected: 0,
  rejected_by_reason: {}, states: [{state: 'TX', messages, sensors: 1, avg_temperature: 70,
  min_temperature: 60, max_temperature: 80}]});
const points = Number(document.querySelector('#rate-chart').dataset.points);
d.receive('window', result(false, 0, 10));
d.receive('window', result(true, 0, 20));
d.receive('window', result(false, 0, 5));
d.receive('window', result(true, 1, 25));
d.receive('window', result(true, 0, 20));
d.receive('stats', JSON.stringify(d.view.current));  // the same `at` again
const chart = d.view.charts.results.data;
return {
  kept: d.windows().filter(w => w.key.startsWith('2000-')),
  messages: chart[0].map((x, i) => x < 1e9 ? chart[1][i] : null).filter(m => m !== null),
  rate_points_same: Number(document.querySelector('#rate-chart').dataset.points) === points,
};
"""


def fail(message):
    raise SystemExit(message)


def wait_for(driver, condition, timeout, what):
    deadline = time.time() + timeout
    while time.time() < deadline:
        snap = driver.execute_script(SNAPSHOT)
        if condition(snap):
            return snap
        time.sleep(0.1)
    fail(f"timed out waiting for {what}: {json.dumps(driver.execute_script(SNAPSHOT))}")


def server_finals(url):
    """The final windows the server still holds, as the page keys them, with their ends."""
    with urllib.request.urlopen(url + "api/windows?limit=500", timeout=5) as response:
        results = json.load(response)
    return {r["window_start"] + "|" + r["window_end"]: end_of(r["window_end"])
            for r in results if r.get("final", True)}


def end_of(time_text):
    return datetime.fromisoformat(time_text.replace("Z", "+00:00")).timestamp()


def check_no_gaps(driver, url, what):
    """Every final window the server emitted between the page's first and last is charted, once."""
    charted = driver.execute_script(CHARTED)
    finals, xs = charted["finals"], charted["results_x"]
    if len(xs) != len(finals) or len(set(finals)) != len(finals):
        fail(f"{what}: {len(finals)} windows kept but {len(xs)} charted")
    for name in ("results_x", "rate_x"):
        x = charted[name]
        if any(b <= a for a, b in zip(x, x[1:])):
            fail(f"{what}: the {name} are not strictly increasing (duplicates?): {x}")
    if len(finals) < 3:
        fail(f"{what}: only {len(finals)} windows charted")
    server = server_finals(url)
    first, last = end_of(finals[0].split("|")[1]), end_of(finals[-1].split("|")[1])
    expected = {key for key, end in server.items() if first <= end <= last}
    missing = sorted(expected - set(finals))
    if missing:
        fail(f"{what}: windows missing from the chart: {missing}")
    return len(finals)


def errors(driver, expected=()):
    """SEVERE console entries since the last call, less those the test caused on purpose."""
    return [e["message"] for e in driver.get_log("browser")
            if e["level"] == "SEVERE" and not any(all(p in e["message"] for p in pattern) for pattern in expected)]


def main():
    url, screenshot = sys.argv[1], sys.argv[2]
    url = url if url.endswith("/") else url + "/"
    proxy = Proxy(url)
    options = Options()
    options.binary_location = os.environ.get("CHROMIUM", "/usr/bin/chromium")
    for flag in ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--window-size=1400,1300", "--no-first-run", "--disable-extensions"]:
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    service = Service(executable_path=os.environ.get("CHROMEDRIVER", "/usr/bin/chromedriver"))
    driver = webdriver.Chrome(service=service, options=options)
    try:
        driver.get(proxy.url)
        first = wait_for(driver, lambda s: s["rows"] >= 50 and s["painted"] >= 50, 30, "a filled map and table")
        later = wait_for(driver, lambda s: s["line"] != first["line"] and s["readings"] != first["readings"]
                         and s["rate"] not in ("–", "0"), 30, "the next result")
        # History and live results meet without a gap or a duplicate.
        wait_for(driver, lambda s: s["windows"] >= 3, 30, "three windows charted")
        windows = check_no_gaps(driver, url, "after loading")

        state = driver.find_element(By.CSS_SELECTOR, '#map path[data-state="TX"]')
        ActionChains(driver).move_to_element(state).perform()
        tooltip = wait_for(driver, lambda s: s["tooltip"], 5, "the tooltip on hover")["tooltip"]
        driver.find_element(By.CSS_SELECTOR, 'th[data-key="state"]').click()
        by_state = driver.execute_script(SNAPSHOT)["first_row"]
        driver.find_element(By.CSS_SELECTOR, 'th[data-key="messages"]').click()
        by_messages = driver.execute_script(
            "return [...document.querySelectorAll('#states tbody tr')].map(r => Number(r.cells[4].textContent.replace(/,/g, '')));")
        ActionChains(driver).move_by_offset(0, 400).perform()
        wait_for(driver, lambda s: s["tooltip"] is None, 5, "the tooltip to hide when the pointer leaves")
        driver.save_screenshot(screenshot)

        # Sorting by keyboard: a header takes focus (send_keys refuses an element that cannot) and
        # Enter / Space sort by it.
        header = driver.find_element(By.CSS_SELECTOR, 'th[data-key="state"]')
        sorted_by_keys = []
        for key, order in [(Keys.ENTER, "ascending"), (Keys.SPACE, "descending")]:
            header.send_keys(key)
            codes = driver.execute_script("return [...document.querySelectorAll('#states tbody tr')].map(r => r.dataset.state);")
            sorts = driver.execute_script("return [...document.querySelectorAll('#states th')].map(th => th.getAttribute('aria-sort'));")
            if sorts != [order] + ["none"] * 5 or codes != sorted(codes, reverse=order == "descending"):
                fail(f"sorting by keyboard ({order}): aria-sort {sorts}, rows {codes}")
            if not driver.execute_script("return document.activeElement === arguments[0]", header):
                fail("the sorted header lost the focus")
            sorted_by_keys.append(codes[0])

        # The map by keyboard: a state takes focus, shows its tooltip and names itself.
        driver.execute_script("arguments[0].focus()", state)
        focused = wait_for(driver, lambda s: s["tooltip"], 5, "the tooltip on focus")["tooltip"]
        label = state.get_attribute("aria-label") or ""
        if state.get_attribute("tabindex") != "0" or not focused.startswith("Texas (TX)") \
                or not (label.startswith("Texas (TX), avg ") and "messages" in label):
            fail(f"focusing Texas: tabindex {state.get_attribute('tabindex')}, tooltip {focused!r}, label {label!r}")

        # An unknown sensor: a visible answer (which also takes the focus off the map: the tooltip goes).
        guid = driver.find_element(By.ID, "guid")
        guid.send_keys("no-such-sensor", Keys.ENTER)
        wait_for(driver, lambda s: s["tooltip"] is None, 5, "the tooltip to hide on blur")
        answer = driver.find_element(By.ID, "sensor")
        deadline = time.time() + 5
        while "not found" not in answer.text and time.time() < deadline:
            time.sleep(0.1)
        lookup = answer.text
        if "not found" not in lookup or not answer.is_displayed() or "error" not in answer.get_attribute("class"):
            fail(f"looking up an unknown sensor shows {lookup!r}")

        seen_errors = errors(driver, [("/api/sensors/no-such-sensor", "404")])

        # The network goes away for a while and comes back: the stream reconnects and the results
        # emitted meanwhile fill in.
        proxy.cut()
        wait_for(driver, lambda s: s["badge"] != "live", 10, "the page to notice it is offline")
        missed = set(server_finals(url))
        guid.clear()
        guid.send_keys("any-sensor", Keys.ENTER)
        deadline = time.time() + 5
        while "could not be reached" not in answer.text and time.time() < deadline:
            time.sleep(0.1)
        if "could not be reached" not in answer.text or not answer.is_displayed():
            fail(f"a lookup without a network shows {answer.text!r}")
        deadline = time.time() + 10
        while len(set(server_finals(url)) - missed) < 2 and time.time() < deadline:
            time.sleep(0.1)
        proxy.restore()
        back = wait_for(driver, lambda s: s["badge"] == "live" and s["reconnects"] >= 1 and s["syncs"] >= 2,
                        15, "the stream to reconnect and backfill")
        after_reconnect = check_no_gaps(driver, url, "after reconnecting")
        if after_reconnect < windows + 2:
            fail(f"after reconnecting: {after_reconnect} windows charted, {windows} before")
        seen_errors += errors(driver, [("/api/events", "net::ERR_"), ("/api/sensors/any-sensor", "net::ERR_")])

        # The map and the history fail on their own: each time the other still works.
        driver.execute_cdp_cmd("Network.enable", {})
        driver.execute_cdp_cmd("Network.setCacheDisabled", {"cacheDisabled": True})
        driver.execute_cdp_cmd("Network.setBlockedURLs", {"urls": ["*/assets/states-albers-10m.json"]})
        driver.get(proxy.url)
        no_map = wait_for(driver, lambda s: s["map_error"] and s["rows"] >= 50 and s["windows"] >= 3, 15,
                          "a map error note beside a filled table and charts")
        driver.execute_cdp_cmd("Network.setBlockedURLs", {"urls": ["*/api/windows*"]})
        driver.get(proxy.url)
        no_history = wait_for(driver, lambda s: s["history_error"] and s["painted"] >= 50 and s["rows"] >= 50
                              and s["rate_points"] >= 3 and s["badge"] == "live", 15,
                              "a history error note beside a live map")
        if no_map["paths"] or no_history["map_error"] or no_map["history_error"]:
            fail(f"failures leaked: {no_map} {no_history}")
        seen_errors += errors(driver, [("states-albers-10m.json", "ERR_BLOCKED_BY_CLIENT"),
                                       ("/api/windows", "ERR_BLOCKED_BY_CLIENT")])

        # Results of one window in any order: the newest (partial < final < revision 1) is kept, once.
        revisions = driver.execute_script(REVISIONS)
        if revisions != {"kept": [{"key": LATE_KEY, "end": 946684801, "final": True, "rank": 2}], "messages": [25],
                         "rate_points_same": True}:
            fail(f"revisions of one window: {revisions}")

        print(json.dumps({"first": first, "later": later, "tooltip": tooltip, "sorted_by_state": by_state,
                          "sorted_by_messages": by_messages, "sorted_by_keys": sorted_by_keys,
                          "focused_tooltip": focused, "lookup": lookup,
                          "windows": {"loaded": windows, "after_reconnect": after_reconnect, "back": back},
                          "no_map": no_map, "no_history": no_history, "errors": seen_errors}))
    finally:
        driver.quit()


if __name__ == "__main__":
    main()
