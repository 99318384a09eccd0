"""The report in a real browser: Debian's Chromium, headless, driven through chromedriver.
The page loads from file:// with no failed request and no console error, its charts are
drawn, a run named <script>alert(1)</script> shows as text (no dialog opens), and a
collapsed run opens on a click. A screenshot is saved in the test's tmp dir."""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest

from audit_helpers import Repo, Store
from mlrepro.api import nightly_report

CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"
INSTALL = "apt-get update && apt-get install -y chromium chromium-driver"
SCRIPT = "<script>alert(1)</script>"


def _find(name: str, default: str) -> str | None:
    return default if Path(default).exists() else shutil.which(name)


def missing_browser() -> str | None:
    """Why the browser test cannot run here, or None."""
    missing = [name for name, path in (("chromium", CHROMIUM), ("chromedriver", CHROMEDRIVER)) if _find(name, path) is None]
    return f"needs Debian's Chromium and its driver ({' and '.join(missing)} not found): {INSTALL}" if missing else None


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[Any]:
    # A machine without Chromium skips with the reason; CI installs it (.ci/run) and sets
    # MLREPRO_REQUIRE_BROWSER=1, so that there a missing browser is a broken setup, not a skip.
    reason = missing_browser()
    if reason is not None:
        if os.environ.get("MLREPRO_REQUIRE_BROWSER") == "1":
            pytest.fail(f"MLREPRO_REQUIRE_BROWSER=1: the browser test {reason}")
        pytest.skip(f"the browser test {reason}")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = _find("chromium", CHROMIUM)
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--no-first-run",
                 "--disable-dev-shm-usage", "--window-size=1280,1600", f"--user-data-dir={tmp_path / 'chromium-profile'}"):
        options.add_argument(flag)
    # Console messages and the network log (every request, and every failed one).
    options.set_capability("goog:loggingPrefs", {"browser": "ALL", "performance": "ALL"})
    driver = webdriver.Chrome(service=Service(_find("chromedriver", CHROMEDRIVER)), options=options)
    try:
        yield driver
    finally:
        driver.quit()


def _network(driver: Any, document: str) -> tuple[list[str], list[dict[str, Any]]]:
    """(URLs the document requested, its failed loads) from Chromium's performance log. Only
    requests made for ``document``: the browser's own start page fetches things too."""
    ours: dict[str, str] = {}
    failed = []
    for entry in driver.get_log("performance"):
        message = json.loads(entry["message"])["message"]
        params = message.get("params", {})
        if message["method"] == "Network.requestWillBeSent" and params.get("documentURL") == document:
            ours[params["requestId"]] = params["request"]["url"]
        elif message["method"] == "Network.loadingFailed":
            failed.append(params)
    return list(ours.values()), [f for f in failed if f["requestId"] in ours]


def test_the_report_in_chromium(browser: Any, store: Store, repo: Repo, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from selenium.common.exceptions import NoAlertPresentException
    from selenium.webdriver.common.by import By

    monkeypatch.chdir(repo.path)
    history, page = tmp_path / "history", tmp_path / "report.html"
    store.good_run(repo, name="clean-run")
    bad = store.run(name=SCRIPT, params={"lr": "0.1"}, metrics={"accuracy": 0.5}, tags={"team": "<b>fraud</b>"})
    nightly_report(repo.path, page, store.uri, history=history, now=datetime(2026, 11, 27, 3, tzinfo=timezone.utc))
    store.run(name="unseeded-run", metrics={"accuracy": 0.7})
    nightly_report(repo.path, page, store.uri, history=history, now=datetime(2026, 11, 28, 3, tzinfo=timezone.utc))

    browser.get("about:blank")
    browser.get_log("performance")  # drop what the start page did
    browser.get(page.as_uri())
    assert browser.title.startswith("mlrepro nightly report")
    with pytest.raises(NoAlertPresentException):
        browser.switch_to.alert  # noqa: B018 - the access is the check: no dialog may be open
    requested, failed = _network(browser, page.as_uri())
    assert failed == [], (requested, failed)
    assert requested == [page.as_uri()], requested  # the page itself, nothing else
    errors = [e for e in browser.get_log("browser") if e["level"] in ("SEVERE", "ERROR")]
    assert errors == []

    # The trend charts are drawn: visible SVGs holding bars and points with a size.
    for chart_id, shapes in (("chart-findings", "rect[class^='bar-']"), ("chart-score", "circle.score-point")):
        chart = browser.find_element(By.ID, chart_id)
        assert chart.is_displayed() and chart.size["width"] > 100 and chart.size["height"] > 50
        drawn = chart.find_elements(By.CSS_SELECTOR, shapes)
        assert len(drawn) >= 2
        assert all(browser.execute_script("const b = arguments[0].getBBox(); return b.width * b.height;", e) > 0 for e in drawn)

    # The user's "script" is text in the run's heading, and no script element exists at all.
    names = [e.text for e in browser.find_elements(By.CSS_SELECTOR, ".run-name")]
    assert SCRIPT in names
    assert browser.execute_script("return document.scripts.length") == 0

    # A collapsed run opens on a click.
    run = browser.find_element(By.ID, f"run-{bad}")
    tags = run.find_element(By.CSS_SELECTOR, ".body")
    assert run.get_attribute("open") is None and not tags.is_displayed()
    run.find_element(By.TAG_NAME, "summary").click()
    assert run.get_attribute("open") is not None and tags.is_displayed()
    assert "<b>fraud</b>" in tags.text and "MLR506" in tags.text

    shot = tmp_path / "report.png"
    assert browser.save_screenshot(str(shot))
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 10_000
