"""Transports: atomic landing files, and the HTTP collector API on a real local server."""

from __future__ import annotations

import datetime as dt

import orjson
import pytest

from ingestion.lake.landing import discover, is_landing_name
from ingestion.layout import Layout
from ingestion.sdk import BatchEmitter, HttpTransport, LandingTransport, TransportError


def test_landing_transport_writes_whole_files_the_loader_finds(tmp_path):
    layout = Layout(tmp_path)
    transport = LandingTransport(layout)
    transport.send([{"event_id": "e_1"}, {"event_id": "e_2"}])
    transport.send([{"event_id": "e_3"}])
    today = dt.datetime.now(dt.UTC).date().isoformat()
    files = sorted((layout.landing_dir("native") / today).iterdir())
    assert len(files) == 2 and all(is_landing_name(f.name) for f in files)  # no temp file left behind
    assert [orjson.loads(x)["event_id"] for f in files for x in f.read_bytes().splitlines()] == ["e_1", "e_2", "e_3"]
    assert {f.load_date for f in discover(layout, ("native",))} == {today}


def test_http_transport_sends_gzip_json_with_the_bearer_token(collector):
    HttpTransport(collector.url, collector.TOKEN).send([{"event_id": "e_1"}, {"event_id": "e_2"}])
    assert [r["event_id"] for r in collector.accepted] == ["e_1", "e_2"]


def test_http_errors_say_whether_to_retry(collector):
    with pytest.raises(TransportError) as wrong_token:
        HttpTransport(collector.url, "wrong").send([{"event_id": "e_1"}])
    assert wrong_token.value.retryable is False and "401" in str(wrong_token.value)
    collector.fail_next = [503]
    with pytest.raises(TransportError) as busy:
        HttpTransport(collector.url, collector.TOKEN).send([{"event_id": "e_1"}])
    assert busy.value.retryable is True
    with pytest.raises(TransportError) as down:
        HttpTransport("http://127.0.0.1:9/v1/events", "t", timeout=2).send([{"event_id": "e_1"}])
    assert down.value.retryable is True


def test_emitter_over_http_survives_a_collector_that_fails_then_recovers(collector, tmp_path):
    collector.fail_next = [503, 500]
    em = BatchEmitter(HttpTransport(collector.url.removesuffix("/v1/events"), collector.TOKEN),
                      spill_dir=tmp_path, batch_size=20, backoff_initial=0.01, at_exit=False)
    for i in range(50):
        em.emit({"event_id": f"e_{i}"})
    stats = em.close()
    assert sorted(r["event_id"] for r in collector.accepted) == sorted(f"e_{i}" for i in range(50))
    assert collector.requests == 3 + 2 and (stats.sent, stats.retried, stats.spilled) == (50, 40, 0)
