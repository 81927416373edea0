"""Drives the dashboard in headless Chromium (Debian's chromium + chromedriver, via Selenium).

Usage: dashboard.py URL SCREENSHOT

Waits for the map and table to fill from live events, waits for the next result, hovers a state,
sorts the table, saves a screenshot, and prints what it saw as JSON for the Rust test to judge.
"""

import json
import os
import sys
import time

from selenium import webdriver
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By

SNAPSHOT = """
// Taken at any moment, also before the map is drawn: every lookup tolerates a missing element.
const q = (s) => document.querySelector(s);
const row = (code) => [...document.querySelectorAll('#states tbody tr')].find(r => r.dataset.state === code);
const ca = row('CA');
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
};
"""


def wait_for(driver, condition, timeout, what):
    deadline = time.time() + timeout
    while time.time() < deadline:
        snap = driver.execute_script(SNAPSHOT)
        if condition(snap):
            return snap
        time.sleep(0.25)
    raise SystemExit(f"timed out waiting for {what}: {json.dumps(driver.execute_script(SNAPSHOT))}")


def main():
    url, screenshot = sys.argv[1], sys.argv[2]
    options = Options()
    options.binary_location = os.environ.get("CHROMIUM", "/usr/bin/chromium")
    for flag in ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--window-size=1400,1300", "--no-first-run", "--disable-extensions"]:
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    service = Service(executable_path=os.environ.get("CHROMEDRIVER", "/usr/bin/chromedriver"))
    driver = webdriver.Chrome(service=service, options=options)
    try:
        driver.get(url)
        first = wait_for(driver, lambda s: s["rows"] >= 50 and s["painted"] >= 50, 30, "a filled map and table")
        later = wait_for(driver, lambda s: s["line"] != first["line"] and s["readings"] != first["readings"]
                         and s["rate"] not in ("–", "0"), 30, "the next result")
        state = driver.find_element(By.CSS_SELECTOR, '#map path[data-state="TX"]')
        ActionChains(driver).move_to_element(state).perform()
        time.sleep(0.3)
        tooltip = driver.execute_script("const t = document.getElementById('tooltip'); return t.hidden ? null : t.innerText;")
        driver.find_element(By.CSS_SELECTOR, 'th[data-key="state"]').click()
        by_state = driver.execute_script(SNAPSHOT)["first_row"]
        driver.find_element(By.CSS_SELECTOR, 'th[data-key="messages"]').click()
        by_messages = driver.execute_script(
            "return [...document.querySelectorAll('#states tbody tr')].map(r => Number(r.cells[4].textContent.replace(/,/g, '')));")
        ActionChains(driver).move_by_offset(0, 400).perform()
        driver.save_screenshot(screenshot)
        errors = [entry["message"] for entry in driver.get_log("browser") if entry["level"] == "SEVERE"]
        print(json.dumps({"first": first, "later": later, "tooltip": tooltip, "sorted_by_state": by_state,
                          "sorted_by_messages": by_messages, "errors": errors}))
    finally:
        driver.quit()


if __name__ == "__main__":
    main()
