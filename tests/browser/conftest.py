"""Headless Chromium (Debian chromium + chromium-driver) driven by Selenium, or a skip that says how to enable it."""

from __future__ import annotations

import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.paths import REPO

ARTIFACTS = REPO / "test-artifacts" / "browser"  # screenshots and console logs; git-ignored
HOW_TO_ENABLE = ("browser tests need Debian's Chromium and ChromeDriver: "
                 "`sudo apt-get update && sudo apt-get install -y chromium chromium-driver` (.ci/run does this)")
# The flags this machine needs: no sandbox as root, and no background connections to Google's hosts
# (the closed network refuses them, many at a time, and slows every start).
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--disable-dev-shm-usage", "--window-size=1400,1000"]


def chromium_paths() -> tuple[str | None, str | None]:
    return (shutil.which("chromium") or shutil.which("chromium-browser"), shutil.which("chromedriver"))


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    chromium, driver_path = chromium_paths()
    if not chromium or not driver_path:
        pytest.skip(HOW_TO_ENABLE)
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        pytest.skip("selenium is missing: `.venv/bin/pip install -e '.[dev]'`")
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for flag in CHROMIUM_FLAGS:
        options.add_argument(flag)
    profile = tempfile.mkdtemp(prefix="aiw-chromium-")
    options.add_argument(f"--user-data-dir={profile}")  # a fresh profile every time
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    # An explicit driver path keeps Selenium Manager from trying to download one.
    driver = webdriver.Chrome(service=Service(driver_path), options=options)
    driver.set_page_load_timeout(30)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def wait_until(check: Callable[[], Any], timeout: float, what: str, every: float = 0.5) -> Any:
    """Poll `check` until it returns something truthy; fail saying what never appeared."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(every)


def body_text(driver: Any) -> str:
    return driver.execute_script("return document.body ? document.body.innerText : ''") or ""


def severe_console_messages(driver: Any) -> list[str]:
    return [entry["message"] for entry in driver.get_log("browser") if entry["level"] == "SEVERE"]


def screenshot(driver: Any, name: str) -> Path:
    path = ARTIFACTS / f"{name}.png"
    driver.save_screenshot(str(path))
    return path
