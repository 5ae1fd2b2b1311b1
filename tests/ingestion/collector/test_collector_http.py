"""The collector over real HTTP on 127.0.0.1: auth, limits, shapes, and what lands on disk."""

from __future__ import annotations

import gzip
import http.client
import os
import subprocess
import sys
import time
from pathlib import Path

import orjson

from ingestion.lake.landing import discover
from ingestion.layout import Layout

from .conftest import REPO, Collector, landed_lines, temp_files


def _events(n: int, prefix: str = "e") -> list[dict[str, object]]:
    return [{"event_id": f"{prefix}{i}", "session_id": "s1", "n": i} for i in range(n)]


def test_refuses_to_start_without_a_token(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "AIW_COLLECTOR_TOKEN"}
    env["AIW_HOME"] = str(tmp_path)
    done = subprocess.run([sys.executable, "-m", "ingestion.collector", "--port", "1"], env=env, cwd=REPO,
                          capture_output=True, text=True, timeout=30)
    assert done.returncode == 2
    assert "AIW_COLLECTOR_TOKEN" in done.stderr and "--insecure-dev" in done.stderr


def test_insecure_dev_runs_without_a_token(tmp_path: Path) -> None:
    c = Collector(home=tmp_path, token=None, args=["--insecure-dev"]).start()
    try:
        assert c.request("POST", "/v1/events", orjson.dumps(_events(2)), auth=False) == (200, {"accepted": 2})
    finally:
        c.stop()


def test_auth_is_required_and_checked(collector: Collector) -> None:
    body = orjson.dumps(_events(1))
    assert collector.request("GET", "/healthz", auth=False)[0] == 200
    status, reply = collector.request("POST", "/v1/events", body, auth=False)
    assert status == 401 and "Bearer" in str(reply["error"])
    for header in (f"Bearer {collector.token}x", f"Basic {collector.token}", collector.token or "", "Bearer "):
        assert collector.request("POST", "/v1/events", body, headers={"Authorization": header})[0] == 401
    for path in ("/v1/feedback", "/v1/traces"):
        assert collector.request("POST", path, b"{}", auth=False)[0] == 401
    assert collector.request("POST", "/v1/events", body, headers={"Authorization": f"bearer {collector.token}"}) \
        == (200, {"accepted": 1})
    collector.stop()
    assert len(landed_lines(collector.home)) == 1  # refused requests wrote nothing


def test_body_limit_is_413_for_declared_chunked_and_inflated_bodies(tmp_path: Path) -> None:
    c = Collector(home=tmp_path, token="t" * 32, args=["--max-body-bytes", "50000"]).start()
    try:
        big = orjson.dumps(_events(2000))
        assert len(big) > 50_000
        status, reply = c.request("POST", "/v1/events", big)
        assert status == 413 and "50000" in str(reply["error"])
        # Chunked transfer: no Content-Length to refuse up front, the running count catches it.
        conn = http.client.HTTPConnection("127.0.0.1", c.port, timeout=10)
        conn.request("POST", "/v1/events", body=iter([big[i:i + 8192] for i in range(0, len(big), 8192)]),
                     headers={"Authorization": f"Bearer {c.token}"}, encode_chunked=True)
        assert conn.getresponse().status == 413
        conn.close()
        status, reply = c.request("POST", "/v1/events", gzip.compress(big), headers={"Content-Encoding": "gzip"})
        assert status == 413 and "decompressed" in str(reply["error"])
        small = orjson.dumps(_events(10))
        assert c.request("POST", "/v1/events", small)[0] == 200
    finally:
        c.stop()
    assert len(landed_lines(tmp_path)) == 10


def test_wrong_shapes_are_400_with_what_was_wrong(collector: Collector) -> None:
    cases = {
        b"[1]": "array element 0 is a number",
        b'{"event_id": "a"}\nnot json\n': "line 2 is not valid JSON",
        b'"just a string"': "line 1 is a string",
        b"[{]": "not valid JSON",
    }
    for body, fragment in cases.items():
        status, reply = collector.request("POST", "/v1/events", body)
        assert status == 400, body
        assert fragment in str(reply["error"]), reply
    status, reply = collector.request("POST", "/v1/events", b"x", headers={"Content-Encoding": "gzip"})
    assert status == 400 and "gzip" in str(reply["error"])
    status, reply = collector.request("POST", "/v1/traces", b"\x0a\x00",
                                      headers={"Content-Type": "application/x-protobuf"})
    assert status == 415 and "http/json" in str(reply["error"])
    assert collector.request("GET", "/v1/events")[0] == 405
    collector.stop()
    assert landed_lines(collector.home) == []


def test_events_feedback_and_traces_land_where_the_loader_looks(collector: Collector) -> None:
    array = _events(5, "a")
    ndjson = b"\n".join(orjson.dumps(e) for e in _events(4, "n")) + b"\n"
    assert collector.request("POST", "/v1/events", orjson.dumps(array)) == (200, {"accepted": 5})
    assert collector.request("POST", "/v1/events", gzip.compress(ndjson),
                             headers={"Content-Encoding": "gzip", "Content-Type": "application/x-ndjson"}) \
        == (200, {"accepted": 4})
    feedback = {"schema_version": "1.1", "feedback_id": "f1", "target_event_id": "a1", "kind": "regenerated",
                "timestamp": 1_760_000_000_000}
    assert collector.request("POST", "/v1/feedback", orjson.dumps(feedback)) == (200, {"accepted": 1})
    otlp = {"resourceSpans": [{"resource": {"attributes": []}, "scopeSpans": [{"spans": [
        {"traceId": "5b8efff798038103d269b633813fc60c", "spanId": "eee19b7ec3c1b174", "name": "chat gpt-4o",
         "attributes": [{"key": "gen_ai.usage.input_tokens", "value": {"intValue": "12"}}]}]}]}]}
    assert collector.request("POST", "/v1/traces", orjson.dumps(otlp)) == (200, {})
    health = collector.request("GET", "/healthz", auth=False)[1]
    assert health["records_received"] == {"native": 10, "otlp": 1}
    assert collector.stop() == 0

    records = [orjson.loads(line) for line in landed_lines(collector.home)]
    assert [r.get("event_id") or r["feedback_id"] for r in records] == \
        [f"a{i}" for i in range(5)] + [f"n{i}" for i in range(4)] + ["f1"]
    assert records[-1]["record_type"] == "feedback"
    traces = landed_lines(collector.home, "otlp")
    assert [orjson.loads(t) for t in traces] == [otlp]
    layout = Layout.from_env(collector.home)
    today = time.strftime("%Y-%m-%d", time.gmtime())
    assert {(f.source, f.load_date) for f in discover(layout, ("native", "otlp"))} == \
        {("native", today), ("otlp", today)}
    assert temp_files(collector.home) == []


def test_files_are_published_by_age_while_the_collector_runs(tmp_path: Path) -> None:
    c = Collector(home=tmp_path, token="t" * 32, args=["--rotate-seconds", "0.3"]).start()
    try:
        assert c.request("POST", "/v1/events", orjson.dumps(_events(3)))[0] == 200
        until = time.monotonic() + 5
        while not landed_lines(tmp_path) and time.monotonic() < until:
            time.sleep(0.05)
        assert len(landed_lines(tmp_path)) == 3  # visible without a stop or a further request
        assert temp_files(tmp_path) == []
    finally:
        c.stop()
