"""`dagster dev` on 127.0.0.1 in headless Chromium: the asset graph, the sensors, and a run the sensor launched.

One `dagster dev` per module (it takes 10-25 s to start). Its instance is a temporary DAGSTER_HOME with
the repo's dagster.yaml, and AIW_HOME holds one landing file, so the new_landing_files sensor has work.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from ingestion.layout import Layout
from tests.browser.conftest import ARTIFACTS, REPO, body_text, chromium_paths, screenshot, wait_until
from tests.conftest import event, write_landing

LOCATION = "ai_analytics_warehouse"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def server_up(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/server_info", timeout=2) as response:
            return response.status == 200
    except OSError:
        return False


@pytest.fixture(scope="module")
def dagster_ui(tmp_path_factory) -> Iterator[str]:
    if not all(chromium_paths()):
        pytest.skip("no Chromium: see tests/browser/conftest.py HOW_TO_ENABLE")  # skip before paying start-up
    root = tmp_path_factory.mktemp("dagster-ui")
    dagster_home = root / "dagster_home"
    dagster_home.mkdir()
    shutil.copy(REPO / "dagster.yaml", dagster_home / "dagster.yaml")
    layout = Layout.from_env(root / "aiw").ensure()
    write_landing(layout, "ui.ndjson", [event(i) for i in range(30)], load_date="2026-11-20")
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    log = open(ARTIFACTS / "dagster-dev.log", "w")  # noqa: SIM115 (closed in teardown)
    env = {**os.environ, "DAGSTER_HOME": str(dagster_home), "AIW_HOME": str(layout.home),
           "GX_ANALYTICS_ENABLED": "false", "DAGSTER_DISABLE_TELEMETRY": "1"}
    # Its own session: SIGINT reaches dagster dev and everything it started (webserver, daemon, code server,
    # run workers), which is how it shuts down cleanly.
    process = subprocess.Popen([str(Path(sys.executable).parent / "dagster"), "dev", "-h", "127.0.0.1",
                                "-p", str(port)], cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT,
                               start_new_session=True)
    try:
        deadline = time.monotonic() + 120
        while not server_up(url):
            if process.poll() is not None or time.monotonic() > deadline:
                log.flush()
                tail = (ARTIFACTS / "dagster-dev.log").read_text()[-3000:]
                pytest.fail(f"dagster dev did not come up on {url}:\n{tail}")
            time.sleep(0.5)
        yield url
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGINT)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=10)
        log.close()


def open_page(browser, url: str, *texts: str, timeout: float = 30) -> str:
    """Load a page of the UI, close the first-visit newsletter dialog, wait for every text; return the text."""
    browser.get(url)

    def ready() -> str | None:
        for button in browser.find_elements("xpath", "//button[normalize-space()='Skip']"):
            try:
                button.click()
            except Exception:  # noqa: BLE001 (a dialog closing under us is fine)
                pass
        text = body_text(browser)
        return text if all(t in text for t in texts) else None

    return wait_until(ready, timeout, f"{texts} on {url}")


def test_asset_graph_shows_every_layer_and_the_marts(browser, dagster_ui):
    text = open_page(browser, f"{dagster_ui}/asset-groups", "Global asset lineage",
                     "lake", "staging", "intermediate", "marts", "reports")
    assert "Materialize all" in text
    screenshot(browser, "asset-graph")
    # The graph only renders nodes inside the window: make it tall enough for the whole marts group.
    browser.set_window_size(1600, 2800)
    try:
        open_page(browser, f"{dagster_ui}/locations/{LOCATION}/asset-groups/marts", "fct_ai_interactions",
                  "mart_session_cost", "mart_latency_slo", "mart_model_drift", "mart_routing",
                  "warehouse_report")  # the report hangs off the marts in the graph
        screenshot(browser, "asset-graph-marts")
    finally:
        browser.set_window_size(1400, 1000)


def test_sensors_page_lists_sensors_and_schedules(browser, dagster_ui):
    text = open_page(browser, f"{dagster_ui}/automation", "new_landing_files", "marts_after_lake_load",
                     "session_over_budget_alerts", "model_drift_alerts", "daily_catch_up",
                     "hourly_landing_freshness", "Run status sensor", "Standard sensor")
    assert "Scheduled At 02:30 AM UTC" in text
    screenshot(browser, "sensors")
    # The sensor is on by default and its first tick found the landing file written by the fixture.
    detail = open_page(browser, f"{dagster_ui}/locations/{LOCATION}/sensors/new_landing_files", "Running",
                       "load_lake_job", "1 run requested", timeout=60)
    screenshot(browser, "sensor-new-landing-files")
    assert "Frequency" in detail and "30 sec" in detail


def test_the_landing_sensor_launched_a_lake_run_that_succeeded(browser, dagster_ui):
    def run_done() -> str | None:
        text = open_page(browser, f"{dagster_ui}/runs", "Runs")
        return text if "load_lake_job" in text and "Success" in text else None

    text = wait_until(run_done, 90, "a successful load_lake_job run launched by new_landing_files", every=3)
    assert "new_landing_files" in text and "2026-11-20" in text
    screenshot(browser, "runs")
    events = open_page(browser, f"{dagster_ui}/assets/lake_interactions?view=events", "quarantine_share",
                       "files_loaded", "native/2026-11-20/ui.ndjson")  # the Markdown table of files
    screenshot(browser, "lake-asset-events")
    assert "accepted" in events
    open_page(browser, f"{dagster_ui}/assets/lake_interactions?view=checks", "event_contract", "blocking",
              "landing_freshness")
    screenshot(browser, "lake-asset-checks")
