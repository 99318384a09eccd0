"""Screenshot a rendered report with Debian's Chromium (headless), for docs/report.png.

    python docs/report_screenshot.py report.html docs/report.png [--height 2200]

Needs `apt-get install chromium chromium-driver` and selenium (the test extra).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("html", type=Path)
    parser.add_argument("png", type=Path)
    parser.add_argument("--width", type=int, default=1280)
    parser.add_argument("--height", type=int, default=2200, help="crop the page at this height (pixels)")
    args = parser.parse_args()
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--no-first-run",
                 "--hide-scrollbars", f"--window-size={args.width},{args.height}"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)
    try:
        driver.get(args.html.resolve().as_uri())
        args.png.parent.mkdir(parents=True, exist_ok=True)
        driver.save_screenshot(str(args.png))
    finally:
        driver.quit()
    return 0


if __name__ == "__main__":
    sys.exit(main())
