"""The dashboard's history in headless Chromium, after the demo restarted on the same store.

Usage: history.py URL RESTARTED SCREENSHOT

RESTARTED is when the second run started (Unix seconds). Picks the 15-minute range and checks that
the results chart is drawn from the store with windows from before the restart; clicks California
in the table and checks its own chart; picks a custom range around the first run only; and goes
back to live. Checks of its own fail the script (exit status 1, the reason on stderr); what it saw
is printed as JSON for the Rust test.
"""

import json
import os
import sys
import time

from selenium import webdriver
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By

STATE = """
const d = window.dashboard, q = (s) => document.querySelector(s);
const xs = (chart) => chart ? Array.from(chart.data[0]) : [];
return {
  range_shown: !q('#range').hidden,
  pressed: [...document.querySelectorAll('#range button')].filter(b => b.getAttribute('aria-pressed') === 'true')
    .map(b => b.dataset.range),
  source: q('#results-chart').dataset.source || null,
  results_x: xs(d.view.charts.results),
  range_note: q('#range-note').textContent,
  state_shown: !q('#state-panel').hidden,
  state: q('#state-chart').dataset.state || null,
  state_x: xs(d.view.charts.state),
  state_avg: d.view.charts.state ? Array.from(d.view.charts.state.data[1]) : [],
  state_title: q('#state-title').textContent,
  state_note: q('#state-note').textContent,
  selected: [...document.querySelectorAll('#map path.state.selected')].map(p => p.dataset.state),
  rows: document.querySelectorAll('#states tbody tr').length,
};
"""


def fail(message):
    raise SystemExit(message)


def wait_for(driver, condition, timeout, what):
    deadline = time.time() + timeout
    while time.time() < deadline:
        seen = driver.execute_script(STATE)
        if condition(seen):
            return seen
        time.sleep(0.1)
    fail(f"timed out waiting for {what}: {json.dumps(driver.execute_script(STATE))}")


def main():
    url, restarted, screenshot = sys.argv[1], float(sys.argv[2]), sys.argv[3]
    options = Options()
    options.binary_location = os.environ.get("CHROMIUM", "/usr/bin/chromium")
    for flag in ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--window-size=1400,1600", "--no-first-run", "--disable-extensions"]:
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    service = Service(executable_path=os.environ.get("CHROMEDRIVER", "/usr/bin/chromedriver"))
    driver = webdriver.Chrome(service=service, options=options)
    try:
        driver.get(url)
        wait_for(driver, lambda s: s["range_shown"] and s["rows"] >= 40, 30, "the range selector and the table")

        # The last 15 minutes, from the store: windows of the first run too.
        driver.find_element(By.CSS_SELECTOR, '#range button[data-range="900"]').click()
        stored = wait_for(driver, lambda s: s["source"] == "history" and s["results_x"]
                          and min(s["results_x"]) < restarted - 1, 15, "stored windows from before the restart")
        if stored["pressed"] != ["900"]:
            fail(f"the pressed range: {stored['pressed']}")

        # A state's own chart: click its row in the table.
        driver.find_element(By.CSS_SELECTOR, '#states tbody tr[data-state="CA"]').click()
        state = wait_for(driver, lambda s: s["state_shown"] and s["state"] == "CA" and len(s["state_x"]) >= 2
                         and min(s["state_x"]) < restarted - 1, 15, "California's chart from the store")
        if not state["state_title"].startswith("California (CA)") or state["selected"] != ["CA"]:
            fail(f"California's panel: {state['state_title']!r}, selected {state['selected']}")
        if not all(20 < t < 100 for t in state["state_avg"] if t is not None):
            fail(f"California's averages: {state['state_avg']}")
        driver.save_screenshot(screenshot)

        # A custom range that ends at the restart (to the second): only the first run's windows.
        driver.find_element(By.CSS_SELECTOR, '#range button[data-range="custom"]').click()
        driver.execute_script("""
            const local = (t) => new Date(t - new Date(t).getTimezoneOffset() * 60000).toISOString().slice(0, 19);
            document.getElementById('range-from').value = local(arguments[0] * 1000 - 600000);
            document.getElementById('range-to').value = local(arguments[0] * 1000);
            document.getElementById('custom-range').requestSubmit();
        """, restarted)
        custom = wait_for(driver, lambda s: s["pressed"] == ["custom"] and s["source"] == "history"
                          and s["results_x"] and max(s["results_x"]) < restarted, 15, "the custom range")
        wait_for(driver, lambda s: s["state_x"] and max(s["state_x"]) < restarted, 15,
                 "California's chart following the custom range")

        # Back to live: the chart follows the stream again; closing the state hides its panel.
        driver.find_element(By.CSS_SELECTOR, '#range button[data-range="live"]').click()
        live = wait_for(driver, lambda s: s["source"] == "live" and s["pressed"] == ["live"], 10, "live again")
        driver.find_element(By.ID, "state-close").click()
        wait_for(driver, lambda s: not s["state_shown"] and not s["selected"], 5, "the state's panel to close")

        errors = [e["message"] for e in driver.get_log("browser") if e["level"] == "SEVERE"]
        print(json.dumps({"stored": {"points": len(stored["results_x"]), "earliest": min(stored["results_x"]),
                                     "note": stored["range_note"]},
                          "state": {"points": len(state["state_x"]), "earliest": min(state["state_x"]),
                                    "note": state["state_note"]},
                          "custom": {"points": len(custom["results_x"]), "latest": max(custom["results_x"])},
                          "live": live["source"], "errors": errors}))
    finally:
        driver.quit()


if __name__ == "__main__":
    main()
