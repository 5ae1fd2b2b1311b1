"""Alerts against hostile and broken receivers on 127.0.0.1: a webhook that trickles, one behind a redirect,
a sink URL without a scheme, and ids written by an attacker that must reach Slack as text, never as markup."""

from __future__ import annotations

import datetime as dt
import fcntl
import json
import re
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import duckdb
import pytest

from ingestion.layout import Layout
from orchestration.alerts.config import load_sinks
from orchestration.alerts.engine import evaluate
from orchestration.alerts.http import RetryPolicy
from orchestration.alerts.log import AlertLog
from orchestration.alerts.model import DELIVERED, Alert, Outcome
from orchestration.alerts.rules import RULES
from orchestration.alerts.sinks import SlackSink, WebhookSink

T0 = dt.datetime(2026, 11, 21, 12, tzinfo=dt.UTC)
HOSTILE = "<!channel> pwned <https://evil.example/login|Click to re-auth>"
SECRET = "T000/B000/s3cr3t-path-token"


class Receiver:
    """A local endpoint: `mode` 'ok' (200), 'trickle' (one byte of the answer every `trickle_every` s),
    'redirect' (302 to `location`). Keeps every request (method, path, headers, body)."""

    def __init__(self, mode: str = "ok", location: str = "", trickle_every: float = 0.5) -> None:
        self.mode, self.location, self.trickle_every = mode, location, trickle_every
        self.requests: list[tuple[str, str, dict, bytes]] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def _keep(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                receiver.requests.append((self.command, self.path, dict(self.headers), self.rfile.read(length)))

            def do_GET(self) -> None:  # noqa: N802
                self._keep()
                self.send_response(200)
                self.end_headers()

            def do_POST(self) -> None:  # noqa: N802
                self._keep()
                if receiver.mode == "redirect":
                    self.send_response(302)
                    self.send_header("Location", receiver.location)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                if receiver.mode == "trickle":
                    try:
                        for byte in b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok":
                            self.wfile.write(bytes([byte]))
                            self.wfile.flush()
                            time.sleep(receiver.trickle_every)
                    except OSError:
                        pass  # the client hung up
                    return
                self.send_response(200)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.base = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.url = f"{self.base}/services/{SECRET}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def json_bodies(self) -> list[dict]:
        return [json.loads(body) for method, _p, _h, body in self.requests if method == "POST"]


@pytest.fixture
def layout(tmp_path: Path) -> Layout:
    layout = Layout.from_env(tmp_path / "aiw").ensure()
    duckdb.connect(str(layout.warehouse)).close()
    return layout


def _alert(i: int = 0) -> Alert:
    return Alert(f"session_over_budget:s{i}", "session_over_budget", f"Session s{i} cost $2.00",
                 {"session_id": f"s{i}", "cost_usd": 2.0, "budget_usd": 0.5, "action": "Cap it."})


def _write_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, sinks: str, retry: str = "") -> None:
    config = tmp_path / "sinks.toml"
    config.write_text(f"[retry]\nattempts = 2\nbackoff_seconds = 0.01\n{retry}\n{sinks}")
    monkeypatch.setenv("AIW_ALERTS_CONFIG", str(config))


def test_a_trickling_webhook_is_cut_at_the_delivery_deadline_and_the_log_lock_is_free(layout, tmp_path,
                                                                                      monkeypatch):
    slow = Receiver("trickle", trickle_every=0.3)  # about 12 s for the whole answer; each read well under 1 s
    try:
        _write_config(tmp_path, monkeypatch, '[[sink]]\ntype = "webhook"\nname = "slow"\nurl_env = "SLOW_URL"\n',
                      "timeout_seconds = 1\ndelivery_deadline_seconds = 1.5\nevaluation_budget_seconds = 4\n")
        monkeypatch.setenv("SLOW_URL", slow.url)
        rules = {"fixed": lambda con: [_alert(i) for i in range(5)]}
        lock_waits: list[float] = []

        def take_the_lock_meanwhile() -> None:
            time.sleep(0.7)  # the first delivery is under way
            started = time.monotonic()
            with open(AlertLog(layout).path.with_suffix(".lock"), "w") as fh:
                fcntl.flock(fh, fcntl.LOCK_EX)
                lock_waits.append(time.monotonic() - started)

        other = threading.Thread(target=take_the_lock_meanwhile)
        other.start()
        started = time.monotonic()
        result = evaluate(layout, rules=rules, now=T0)
        held = time.monotonic() - started
        other.join()
        # 1.5 s for the first alert's delivery (its second attempt is not made past the deadline); the
        # breaker skips the others. Far from 2 attempts x 12 s per alert.
        assert held < 4.5, held
        assert lock_waits and lock_waits[0] < 0.5, lock_waits  # delivery ran outside the alert-log lock
        status = result.deliveries["session_over_budget:s0"]["slow"]
        assert status.outcome is Outcome.FAILED and "deadline" in status.reason, status
        assert SECRET not in AlertLog(layout).path.read_text()
    finally:
        slow.close()


def test_the_evaluation_time_budget_leaves_the_rest_for_the_next_tick(layout):
    slow = Receiver("trickle", trickle_every=0.3)
    try:
        policy = RetryPolicy(attempts=1, timeout_seconds=1, delivery_deadline_seconds=1.0,
                             evaluation_budget_seconds=2.5)
        sinks = [WebhookSink(f"hook{i}", slow.url, policy=policy) for i in range(6)]
        started = time.monotonic()
        result = evaluate(layout, rules={"fixed": lambda con: [_alert()]}, sinks=sinks, now=T0, policy=policy)
        assert time.monotonic() - started < 4.0
        statuses = result.deliveries["session_over_budget:s0"]
        assert sum("time budget" in s.reason for s in statuses.values()) >= 3, statuses
        assert all(s.outcome is Outcome.FAILED for s in statuses.values())
        assert set(AlertLog(layout).state()["session_over_budget:s0"].pending()) == set(statuses)
    finally:
        slow.close()


def test_a_redirect_is_a_failure_and_neither_the_alert_nor_the_secret_follows_it(layout, tmp_path, monkeypatch):
    target = Receiver("ok")
    hop = Receiver("redirect", location=target.url)
    try:
        _write_config(tmp_path, monkeypatch, '[[sink]]\ntype = "webhook"\nname = "ops"\nurl_env = "OPS_URL"\n'
                      'headers_env = { Authorization = "OPS_AUTH" }\n')
        monkeypatch.setenv("OPS_URL", hop.url)
        monkeypatch.setenv("OPS_AUTH", "Bearer super-secret-header")
        result = evaluate(layout, rules={"fixed": lambda con: [_alert()]}, now=T0)
        status = result.deliveries["session_over_budget:s0"]["ops"]
        assert status.outcome is Outcome.FAILED and "302" in status.reason and "redirect" in status.reason
        assert target.requests == []  # nothing reached the redirect target: no body, no secret header
        log_text = AlertLog(layout).path.read_text()
        assert SECRET not in log_text and "super-secret-header" not in log_text
    finally:
        target.close()
        hop.close()


def test_a_sink_url_without_a_scheme_is_one_clear_failure_and_never_raises(layout, tmp_path, monkeypatch, caplog):
    _write_config(tmp_path, monkeypatch, '[[sink]]\ntype = "slack"\nname = "slack"\nurl_env = "SLACK_URL"\n')
    monkeypatch.setenv("SLACK_URL", f"hooks.slack.com/services/{SECRET}")
    config = load_sinks(layout)  # loads: the problem is reported, not raised
    slack = next(s for s in config.sinks if s.name == "slack")
    assert slack.url is None and "SLACK_URL" in slack.missing and SECRET not in slack.missing
    rules = {"fixed": lambda con: [_alert()]}
    for minute in range(3):  # three ticks
        result = evaluate(layout, rules=rules, now=T0 + dt.timedelta(minutes=minute * 5))
    first = AlertLog(layout).state()["session_over_budget:s0"]
    assert first.deliveries["slack"].outcome is Outcome.FAILED
    assert first.deliveries["slack"].reason.startswith("SLACK_URL is not a valid http(s) URL")
    assert len((layout.alerts / "alerts.jsonl").read_text().splitlines()) == 1  # appended once, not per tick
    assert result.fired == []
    everything = AlertLog(layout).path.read_text() + caplog.text
    assert SECRET not in everything


def _latency_warehouse(layout: Layout, feature: str, model: str) -> None:
    con = duckdb.connect(str(layout.warehouse))
    con.execute("create schema if not exists marts")
    con.execute("""create or replace table marts.mart_latency_slo as
                   select ?::varchar as feature_id, ?::varchar as model_id,
                          timestamp '2026-11-21 10:00:00' as hour_ts, 2500.0::double as ttft_p95_ms,
                          1000.0::double as slo_ttft_ms, 40 as ttft_samples, true as slo_breached""", [feature, model])
    con.close()


SLACK_CONTROL = re.compile(r"<[!@#]|<https?:|<mailto:")


def _texts(node) -> list[str]:
    if isinstance(node, dict):
        return [t for v in node.values() for t in _texts(v)]
    if isinstance(node, list):
        return [t for v in node for t in _texts(v)]
    return [node] if isinstance(node, str) else []


def test_hostile_ids_reach_slack_as_text_and_webhooks_as_json_values(layout):
    model = "gpt-4o <@U024BE7LH> & @here"
    _latency_warehouse(layout, HOSTILE, model)
    slack, hook = Receiver("ok"), Receiver("ok")
    try:
        sinks = [SlackSink("slack", slack.url), WebhookSink("hook", hook.url)]
        result = evaluate(layout, rules={"latency": RULES["latency_slo_breach"]}, sinks=sinks, now=T0)
        assert len(result.fired) == 1 and set(result.deliveries[result.fired[0].key].values()) == {DELIVERED}
        (message,) = slack.json_bodies()
        texts = _texts(message)
        # No mention, no link, no user or channel reference survives in anything Slack would parse.
        assert not [t for t in texts if SLACK_CONTROL.search(t)], texts
        assert not [t for t in texts if re.search(r"(?<![\w@])@(here|channel|everyone)\b", t)], texts
        # ... and the reader still sees what the id was, escaped as Slack documents (&lt; &gt; &amp;).
        assert any("&lt;!channel&gt; pwned" in t or "pwned &lt;https://evil.example/login|Click to re-auth&gt;" in t
                   for t in texts), texts
        assert any("&amp;" in t for t in texts)
        # The webhook gets data: the ids exactly as they are, in JSON values, and no pre-rendered markup.
        (payload,) = hook.json_bodies()
        assert payload["alert"]["details"]["feature_id"] == HOSTILE
        assert payload["alert"]["details"]["model_id"] == model
        assert "blocks" not in payload and "text" not in payload
    finally:
        slack.close()
        hook.close()
