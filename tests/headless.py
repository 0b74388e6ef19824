"""Headless Chromium through Selenium, for the story browser's test, benchmark and
screenshots: the one place that knows where the browser and its driver are.

Debian's ``chromium`` and ``chromium-driver`` packages (``apt-get install -y
chromium chromium-driver``) and ``pip install selenium``; nothing is downloaded
(Selenium Manager is not used: the driver's path is always given).
"""

from __future__ import annotations

import os
import shutil

BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
DRIVERS = ("chromedriver", "chromium.chromedriver")


class BrowserUnavailable(RuntimeError):
    """No headless Chromium can be started here; the message says what is missing."""


def find_chromium() -> tuple[str, str]:
    """Paths of the browser and of its driver (``$CHROMIUM`` and ``$CHROMEDRIVER``
    override the search on ``PATH``); ``BrowserUnavailable`` where one is missing."""
    try:
        import selenium  # noqa: F401
    except ImportError:
        raise BrowserUnavailable("selenium is not installed (pip install 'selenium>=4.15')") from None
    browser = os.environ.get("CHROMIUM") or next(filter(None, map(shutil.which, BROWSERS)), None)
    driver = os.environ.get("CHROMEDRIVER") or next(filter(None, map(shutil.which, DRIVERS)), None)
    missing = [name for name, path in (("chromium", browser), ("chromedriver", driver)) if not path]
    if missing:
        raise BrowserUnavailable(
            f"{' and '.join(missing)} not found on PATH (apt-get install -y chromium chromium-driver)"
        )
    return browser, driver


def open_chromium(width: int = 1400, height: int = 1000):
    """A headless Chromium driven by Selenium, its window ``width`` x ``height``;
    the caller quits it. ``BrowserUnavailable`` where none can be started."""
    browser, driver = find_chromium()
    from selenium import webdriver
    from selenium.common.exceptions import WebDriverException
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = browser
    for arg in (
        "--headless=new",
        "--no-sandbox",
        "--disable-dev-shm-usage",
        "--disable-gpu",
        "--hide-scrollbars",
        f"--window-size={width},{height}",
        "--force-device-scale-factor=1",
    ):
        options.add_argument(arg)
    try:
        return webdriver.Chrome(options=options, service=Service(driver))
    except WebDriverException as exc:
        raise BrowserUnavailable(f"cannot start {browser} with {driver}: {exc.msg}") from None
