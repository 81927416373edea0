"""Drives the dashboard's alerts panel in headless Chromium (Debian's chromium + chromedriver, via
Selenium).

Usage: alerts.py URL SCREENSHOT RULE

Waits for the alerts panel to show an alert of RULE firing, live from the event stream, then
reloads the page and checks that the firing alerts are listed again at once (from /api/alerts).
Prints what it saw as JSON for the Rust test; a check of its own that fails exits with status 1.
"""

import json
import os
import sys
import time

from selenium import webdriver
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.chrome.service import Service

SNAPSHOT = """
const rows = [...document.querySelectorAll('#alerts-active tbody tr')];
return {
  shown: !document.getElementById('alerts-panel').hidden,
  count: document.getElementById('alerts-count').textContent,
  active: rows.map(r => ({rule: r.dataset.rule, key: r.dataset.key, severity: r.cells[2].textContent})),
  recent: [...document.querySelectorAll('#alerts-recent li')].map(li => li.textContent),
  badge: document.getElementById('connection').textContent,
};
"""


def wait_for(driver, done, seconds, what):
    deadline = time.time() + seconds
    while True:
        seen = driver.execute_script(SNAPSHOT)
        if done(seen):
            return seen
        if time.time() > deadline:
            sys.exit(f"timed out waiting for {what}: {json.dumps(seen)}")
        time.sleep(0.2)


def main():
    url, screenshot, rule = sys.argv[1], sys.argv[2], sys.argv[3]
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
        firing = lambda s: s["shown"] and any(a["rule"] == rule for a in s["active"])
        live = wait_for(driver, firing, 30, f"an alert of {rule} firing")
        driver.save_screenshot(screenshot)
        driver.refresh()
        reloaded = wait_for(driver, firing, 10, "the firing alerts again after a reload")
        errors = [e["message"] for e in driver.get_log("browser") if e["level"] == "SEVERE"]
        print(json.dumps({"live": live, "reloaded": reloaded, "errors": errors}))
    finally:
        driver.quit()


main()
