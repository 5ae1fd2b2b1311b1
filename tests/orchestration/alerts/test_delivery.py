"""Alert delivery against real HTTP servers on 127.0.0.1: retries, a sink that fails then recovers, one that
stays down, secrets from the environment, and an alert log that says what went where."""

from __future__ import annotations

import ast
import datetime as dt
import json
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import duckdb
import pytest

from ingestion.layout import Layout
from orchestration.alerts.config import load_sinks
from orchestration.alerts.engine import evaluate
from orchestration.alerts.log import AlertLog
from orchestration.alerts.model import DELIVERED, Alert, DeliveryStatus, Outcome
from orchestration.alerts.sinks import slack_payload
from tests.paths import REPO

T0 = dt.datetime(2026, 11, 21, 12, tzinfo=dt.UTC)


class Receiver:
    """A local HTTP endpoint that answers `fail_first` requests with 503, then 200, and keeps every request."""

    def __init__(self, fail_first: int = 0) -> None:
        self.fail_first = fail_first
        self.requests: list[tuple[dict, dict]] = []  # (headers, json body)
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                receiver.requests.append((dict(self.headers), body))
                failing = len(receiver.requests) <= receiver.fail_first
                self.send_response(503 if failing else 200)
                self.end_headers()
                self.wfile.write(b"down" if failing else b"ok")

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def bodies(self) -> list[dict]:
        return [body for _, body in self.requests]


def closed_port_url() -> str:
    with socket.socket() as s:  # bind then release: nothing listens there afterwards
        s.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{s.getsockname()[1]}/hook"


def _alert(i: int) -> Alert:
    return Alert(f"session_over_budget:s{i}", "session_over_budget", f"Session s{i} cost ${i + 1}.00",
                 {"session_id": f"s{i}", "cost_usd": float(i + 1), "budget_usd": 0.5, "action": "Cap it."})


@pytest.fixture
def receivers(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Layout, Receiver, Receiver]]:
    layout = Layout.from_env(tmp_path / "aiw").ensure()
    duckdb.connect(str(layout.warehouse)).close()  # the engine only needs a warehouse file to open
    ok, flaky = Receiver(), Receiver(fail_first=3)
    config = tmp_path / "sinks.toml"
    config.write_text("""
[retry]
attempts = 2
backoff_seconds = 0.01
timeout_seconds = 2
give_up_after_hours = 24

[[sink]]
type = "jsonl"
[[sink]]
type = "log"
[[sink]]
type = "webhook"
name = "ops"
url_env = "TEST_OPS_URL"
headers_env = { Authorization = "TEST_OPS_AUTH" }
[[sink]]
type = "slack"
name = "slack"
url_env = "TEST_SLACK_URL"
[[sink]]
type = "webhook"
name = "pager"
url_env = "TEST_PAGER_URL"
""")
    monkeypatch.setenv("AIW_ALERTS_CONFIG", str(config))
    monkeypatch.setenv("TEST_OPS_URL", ok.url)
    monkeypatch.setenv("TEST_OPS_AUTH", "Bearer not-a-real-token")
    monkeypatch.setenv("TEST_SLACK_URL", flaky.url)
    monkeypatch.setenv("TEST_PAGER_URL", closed_port_url())
    yield layout, ok, flaky
    ok.server.shutdown()
    flaky.server.shutdown()


class ListLogger:
    def __init__(self) -> None:
        self.lines: list[str] = []

    def warning(self, message: str) -> None:
        self.lines.append(message)


def test_a_failing_sink_is_retried_next_tick_without_resending_to_the_others(receivers):
    layout, ok, flaky = receivers
    alerts = [_alert(i) for i in range(3)]
    rules = {"fixed": lambda con: alerts}
    logger = ListLogger()

    first = evaluate(layout, rules=rules, now=T0, logger=logger)
    assert [a.key for a in first.fired] == [a.key for a in alerts]
    # The working webhook got all three, with the secret header from the environment.
    assert [b["alert"]["key"] for b in ok.bodies()] == [a.key for a in alerts]
    assert {h["Authorization"] for h, _ in ok.requests} == {"Bearer not-a-real-token"}
    # Slack answered 503 twice (2 attempts for the first alert), then was not tried again this tick.
    assert len(flaky.requests) == 2
    assert set(first.failed()) == {"slack", "pager"}
    assert len(logger.lines) == 3 and all(line.startswith("ALERT session_over_budget") for line in logger.lines)

    second = evaluate(layout, rules=rules, now=T0 + dt.timedelta(minutes=1), logger=logger)
    assert second.fired == [] and second.already_fired == 3
    # Slack: 1 more 503, then it recovered; every alert reached it exactly once.
    delivered_to_slack = [b["text"] for b in flaky.bodies()[3:]]
    assert delivered_to_slack == [f"[session_over_budget] {a.title}" for a in alerts]
    assert len(ok.requests) == 3 and len(logger.lines) == 3  # nothing re-sent to sinks that had it
    assert {k: v["slack"] for k, v in second.retried.items()} == {a.key: DELIVERED for a in alerts}

    state = AlertLog(layout).state()
    assert {k: e.deliveries for k, e in state.items()} == {
        a.key: {"jsonl": DELIVERED, "log": DELIVERED, "ops": DELIVERED, "slack": DELIVERED,
                "pager": state[a.key].deliveries["pager"]} for a in alerts}
    assert all(e.deliveries["pager"].outcome is Outcome.FAILED for e in state.values())
    # One line per alert in the JSON-lines sink, whatever the retries did.
    assert len((layout.alerts / "alerts.jsonl").read_text().splitlines()) == 3

    # Across ticks, failed sinks back off (1, 2, 4 ... minutes): a tick 30 s later tries nothing.
    assert evaluate(layout, rules=rules, now=T0 + dt.timedelta(seconds=90), logger=logger).retried == {}

    # A day later the sink that stayed down is given up on, and recorded as such; no more requests anywhere.
    third = evaluate(layout, rules=rules, now=T0 + dt.timedelta(hours=25), logger=logger)
    assert {v["pager"].outcome for v in third.retried.values()} == {Outcome.ABANDONED}
    assert AlertLog(layout).state()[alerts[0].key].pending() == []
    assert len(flaky.requests) == 6 and len(ok.requests) == 3


def test_unset_secret_is_a_recorded_failure_then_delivered_once_set(receivers, monkeypatch):
    layout, ok, _ = receivers
    monkeypatch.delenv("TEST_OPS_URL")
    rules = {"fixed": lambda con: [_alert(7)]}
    first = evaluate(layout, rules=rules, now=T0)
    assert first.deliveries[_alert(7).key]["ops"] == DeliveryStatus.failed("TEST_OPS_URL is not set")
    monkeypatch.setenv("TEST_OPS_URL", ok.url)
    evaluate(layout, rules=rules, now=T0 + dt.timedelta(minutes=1))
    assert [b["alert"]["key"] for b in ok.bodies()] == [_alert(7).key]


def test_literal_url_in_the_config_file_is_refused(tmp_path, monkeypatch):
    config = tmp_path / "sinks.toml"
    config.write_text('[[sink]]\ntype = "slack"\nurl = "https://hooks.slack.com/services/T/B/x"\n')
    monkeypatch.setenv("AIW_ALERTS_CONFIG", str(config))
    with pytest.raises(ValueError, match="url_env"):
        load_sinks(Layout.from_env(tmp_path / "aiw").ensure())


def test_example_config_file_loads_with_the_documented_sinks(tmp_path, monkeypatch):
    monkeypatch.setenv("AIW_ALERTS_CONFIG", str(REPO / "docs" / "alert_sinks.example.toml"))
    monkeypatch.setenv("AIW_SLACK_WEBHOOK_URL", "http://127.0.0.1:9/slack")
    config = load_sinks(Layout.from_env(tmp_path / "aiw").ensure())
    assert [s.name for s in config.sinks] == ["jsonl", "log", "webhook", "slack"]
    assert config.policy.attempts >= 1 and config.policy.timeout_seconds <= 10


def test_slack_payload_carries_the_numbers_and_the_action():
    alert = Alert("k", "model_drift", "gpt-4o 2024-11-20 got worse", {"interactions": 1200, "delta": -0.08123,
                                                                      "action": "Roll it back."}, "2026-11-21")
    payload = slack_payload(alert)
    header, fields, action, context = payload["blocks"]
    assert header["text"]["text"] == alert.title
    assert [f["text"] for f in fields["fields"]] == ["*interactions*\n1200", "*delta*\n-0.0812"]
    assert action["text"]["text"] == "*What to do:* Roll it back."
    assert "`k`" in context["elements"][0]["text"] and payload["text"].startswith("[model_drift]")


def test_delivery_statuses_keep_their_text_in_the_alert_log():
    # The log on disk (and `aiw sql`'s alert_log view) holds the statuses as text; read back, each is the
    # same typed value, so an older log keeps working and a newer one reads the same.
    texts = {
        "delivered": DELIVERED,
        "failed: HTTP 503 Service Unavailable after 3 attempt(s)":
            DeliveryStatus.failed("HTTP 503 Service Unavailable after 3 attempt(s)"),
        "pending: being delivered since 2026-11-21T12:00:00+00:00":
            DeliveryStatus.pending("being delivered since 2026-11-21T12:00:00+00:00"),
        "abandoned after 5 evaluation(s): TEST_OPS_URL is not set":
            DeliveryStatus.abandoned("after 5 evaluation(s): TEST_OPS_URL is not set"),
    }
    for text, status in texts.items():
        assert DeliveryStatus.parse(text) == status
        assert status.text() == text
    assert [s.outcome for s in texts.values()] == [Outcome.DELIVERED, Outcome.FAILED, Outcome.PENDING,
                                                    Outcome.ABANDONED]
    assert [s.ok for s in texts.values()] == [True, False, False, False]


def test_the_alert_log_records_statuses_as_text(receivers):
    layout, _ok, _flaky = receivers
    evaluate(layout, rules={"fixed": lambda con: [_alert(3)]}, now=T0)
    records = [json.loads(line) for line in AlertLog(layout).path.read_text().splitlines()]
    assert [r["event"] for r in records] == ["fired", "delivered"]
    claimed, outcome = (r["deliveries"] for r in records)
    assert set(claimed.values()) == {"pending: being delivered since 2026-11-21T12:00:00+00:00"}
    assert outcome["jsonl"] == outcome["ops"] == "delivered"
    assert outcome["pager"].startswith("failed: ") and "attempt(s)" in outcome["pager"]


def test_the_alerts_modules_import_one_way():
    # model <- rules, log, http <- sinks <- config <- engine: a sink never reaches back into the engine.
    probe = ("import sys, orchestration.alerts.sinks, orchestration.alerts.log, orchestration.alerts.rules; "
             "print(sorted(m for m in sys.modules if m.startswith('orchestration.alerts.')))")
    loaded = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout
    assert ast.literal_eval(loaded) == [f"orchestration.alerts.{m}" for m in ("http", "log", "model", "rules", "sinks")]
