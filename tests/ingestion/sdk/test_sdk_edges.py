"""The SDK inside someone else's process: fork, SIGTERM, a rejected batch, odd inputs, proxies and redirects.

Real parts only: a real HTTP collector on 127.0.0.1, real `fork()` and real signals in child processes.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time

import openai
import pytest

from ingestion.sdk import (
    BatchEmitter,
    HttpTransport,
    TransportError,
    instrument_openai,
    track_interaction,
    tracking_context,
)
from ingestion.sdk.spill import SpillDir
from tests.ingestion.sdk.conftest import FakeOpenAI
from tests.paths import REPO


def run_python(code: str, env_extra: dict[str, str] | None = None, **kwargs) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(REPO), **(env_extra or {})}
    return subprocess.Popen([sys.executable, "-c", textwrap.dedent(code)], cwd=REPO, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kwargs)


def ids(records: list[dict]) -> list[str]:
    return sorted(r["event_id"] for r in records)


# -- fork ---------------------------------------------------------------------------------------------

FORK_SCRIPT = """
    import os, sys, multiprocessing
    from ingestion.sdk import BatchEmitter, HttpTransport
    em = BatchEmitter(HttpTransport({url!r}, {token!r}), spill_dir={spill!r}, batch_size=50, flush_interval=60)
    for i in range(10):
        em.emit({{"event_id": f"parent_{{i}}"}})  # still queued in the parent when it forks

    def child_work(tag):
        for i in range(150):
            em.emit({{"event_id": f"{{tag}}_{{i}}"}})

    pid = os.fork()
    if pid == 0:  # a plain fork child (gunicorn --preload worker) that exits normally
        child_work("forked")
        sys.exit(0)
    os.waitpid(pid, 0)
    # multiprocessing with the fork start method (Celery prefork, Pool): the child ends with os._exit
    proc = multiprocessing.get_context("fork").Process(target=child_work, args=("mp",))
    proc.start()
    proc.join()
    stats = em.close()
    print(stats.sent, stats.dropped)
"""


def test_events_emitted_in_a_forked_child_are_delivered_once(collector, tmp_path):
    proc = run_python(FORK_SCRIPT.format(url=collector.url, token=collector.TOKEN, spill=str(tmp_path / "spill")))
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    expected = sorted([f"parent_{i}" for i in range(10)] + [f"forked_{i}" for i in range(150)]
                      + [f"mp_{i}" for i in range(150)])
    # Every child's events arrive, and the parent's queued events are sent by the parent only (no copies).
    assert ids(collector.accepted) == expected
    assert out.split() == ["10", "0"]  # the parent's counters are its own events
    assert SpillDir(tmp_path / "spill").pending_count() == 0


# -- SIGTERM ------------------------------------------------------------------------------------------

SIGTERM_SCRIPT = """
    import signal, sys, time
    {before}
    from ingestion.sdk import BatchEmitter, HttpTransport
    em = BatchEmitter(HttpTransport({url!r}, {token!r}), spill_dir={spill!r}, batch_size=100, flush_interval=60)
    for i in range(250):
        em.emit({{"event_id": f"e_{{i}}"}})
    print("ready", flush=True)
    while True:
        time.sleep(0.1)
"""


def _terminate_after_ready(proc: subprocess.Popen) -> tuple[str, str]:
    assert proc.stdout.readline().strip() == "ready"
    time.sleep(0.5)  # the two full batches go out; 50 records stay queued for the flush interval
    proc.send_signal(signal.SIGTERM)
    return proc.communicate(timeout=30)


def test_sigterm_flushes_the_queue_and_still_terminates(collector, tmp_path):
    proc = run_python(SIGTERM_SCRIPT.format(before="", url=collector.url, token=collector.TOKEN,
                                            spill=str(tmp_path / "spill")))
    _out, err = _terminate_after_ready(proc)
    assert len(collector.accepted) == 250, err
    assert ids(collector.accepted) == sorted(f"e_{i}" for i in range(250))
    assert proc.returncode == 128 + signal.SIGTERM  # the exit status says it was terminated


def test_sigterm_chains_the_applications_own_handler(collector, tmp_path):
    marker = tmp_path / "app-handler-ran"
    before = f"""
    def app_handler(signum, frame):
        open({str(marker)!r}, "w").write(str(signum))
        sys.exit(3)
    signal.signal(signal.SIGTERM, app_handler)
    """
    proc = run_python(SIGTERM_SCRIPT.format(before=textwrap.dedent(before).strip().replace("\n", "\n    "),
                                            url=collector.url, token=collector.TOKEN,
                                            spill=str(tmp_path / "spill")))
    _out, err = _terminate_after_ready(proc)
    assert marker.read_text() == str(int(signal.SIGTERM)), err  # the app's handler ran, and decided the exit
    assert proc.returncode == 3
    assert len(collector.accepted) == 250


# -- spill: one rejected batch must not block the others ----------------------------------------------

def test_a_rejected_spilled_batch_is_moved_aside_and_later_batches_deliver(collector, tmp_path):
    spill = tmp_path / "spill"
    # An outage: the first emitter spills 4 batches (one of them the collector will reject as too large).
    em = BatchEmitter(HttpTransport("http://127.0.0.1:9/v1/events", "t", timeout=1), spill_dir=spill,
                      batch_size=10, max_retries=0, at_exit=False)
    em.emit({"event_id": "huge", "blob": "x" * 5000})
    em.flush(timeout=10)
    for i in range(30):
        em.emit({"event_id": f"outage_{i}"})
    em.close(timeout=10)
    assert SpillDir(spill).pending_count() == 4
    collector.max_body_bytes = 4000  # the oversize record can never be accepted: a 413
    for _restart in range(3):
        BatchEmitter(HttpTransport(collector.url, collector.TOKEN), spill_dir=spill, backoff_initial=0.01,
                     at_exit=False).close(timeout=10)
    assert ids(collector.accepted) == sorted(f"outage_{i}" for i in range(30))
    assert SpillDir(spill).pending_count() == 0
    (rejected,) = (spill / "rejected").glob("*.ndjson")
    assert json.loads(rejected.read_text())["event_id"] == "huge"
    reason = rejected.with_name(rejected.name + ".reason.txt").read_text()
    assert "413" in reason


def test_a_batch_rejected_live_is_moved_aside_not_spilled(collector, tmp_path):
    collector.fail_next = [400]
    em = BatchEmitter(HttpTransport(collector.url, collector.TOKEN), spill_dir=tmp_path, batch_size=5,
                      at_exit=False)
    for i in range(5):
        em.emit({"event_id": f"e_{i}"})
    stats = em.close()
    assert (stats.sent, stats.spilled, stats.rejected) == (0, 0, 5)
    assert SpillDir(tmp_path).pending_count() == 0 and len(list((tmp_path / "rejected").glob("*.ndjson"))) == 1


# -- URLs, redirects and the collector's body limit ---------------------------------------------------

def test_a_trailing_slash_in_the_url_is_normalised(collector):
    HttpTransport(collector.url + "/", collector.TOKEN).send([{"event_id": "e_1"}])
    HttpTransport(collector.url.removesuffix("/v1/events") + "/", collector.TOKEN).send([{"event_id": "e_2"}])
    assert ids(collector.accepted) == ["e_1", "e_2"]


def test_a_redirect_is_a_failure_and_the_token_never_follows_it(collector, tmp_path):
    collector.redirect_to = collector.url.replace("/v1/events", "/elsewhere")
    with pytest.raises(TransportError) as err:
        HttpTransport(collector.url, collector.TOKEN).send([{"event_id": "e_1"}])
    assert "302" in str(err.value) and err.value.retryable
    assert collector.gets == []  # no bodiless GET carrying the bearer token
    em = BatchEmitter(HttpTransport(collector.url, collector.TOKEN), spill_dir=tmp_path, max_retries=1,
                      backoff_initial=0.01, at_exit=False)
    em.emit({"event_id": "e_2"})
    stats = em.close()
    assert (stats.sent, stats.spilled) == (0, 1) and collector.gets == []


def test_an_oversize_batch_is_split_to_the_collectors_limit(collector, tmp_path):
    collector.max_body_bytes = 20_000
    em = BatchEmitter(HttpTransport(collector.url, collector.TOKEN, max_body_bytes=20_000), spill_dir=tmp_path,
                      batch_size=100, at_exit=False)
    for i in range(100):
        em.emit({"event_id": f"e_{i:03d}", "pad": "p" * 900})  # about 94 KB in one batch
    stats = em.close()
    assert ids(collector.accepted) == sorted(f"e_{i:03d}" for i in range(100))
    assert (stats.sent, stats.spilled, stats.dropped) == (100, 0, 0)
    assert max(collector.body_sizes) <= 20_000 and len(collector.body_sizes) >= 5


def test_a_collector_limit_lower_than_configured_is_found_by_halving(collector, tmp_path):
    collector.max_body_bytes = 20_000  # the SDK still believes the default 10 MiB
    em = BatchEmitter(HttpTransport(collector.url, collector.TOKEN), spill_dir=tmp_path, batch_size=100,
                      at_exit=False)
    for i in range(100):
        em.emit({"event_id": f"e_{i:03d}", "pad": "p" * 900})
    stats = em.close()
    assert ids(collector.accepted) == sorted(f"e_{i:03d}" for i in range(100))
    assert (stats.sent, stats.spilled, stats.rejected) == (100, 0, 0)


# -- the caller's call is never altered and never raises because of the SDK ---------------------------

def _client(server: FakeOpenAI):
    return openai.OpenAI(base_url=server.base_url, api_key="sk-test", max_retries=0)


def test_a_generator_of_messages_reaches_the_provider_unchanged(fake_openai, sink):
    em, transport = sink
    c = instrument_openai(_client(fake_openai), feature_id="qa", emitter=em)
    messages = ({"role": "user", "content": text} for text in ["Capital", "of France?"])
    c.chat.completions.create(model="gpt-4o-mini", messages=messages)
    assert fake_openai.requests[-1]["messages"] == [{"role": "user", "content": "Capital"},
                                                    {"role": "user", "content": "of France?"}]
    assert em.flush(timeout=5) and len(transport.records) == 1


def test_non_string_ids_and_none_text_do_not_break_the_call(fake_openai, sink):
    em, transport = sink
    c = instrument_openai(_client(fake_openai), feature_id="qa", emitter=em)
    with tracking_context(user_id=42, session_id=7):
        response = c.chat.completions.create(model="gpt-4o-mini", messages=[
            {"role": "user", "content": [{"type": "text", "text": None}, {"type": "text", "text": "hi"}]}])
    assert response.choices[0].message.content == "".join(FakeOpenAI.WORDS)
    assert em.flush(timeout=5)
    (event,) = transport.records
    assert (event["user_id"], event["session_id"]) == ("42", "7")
    direct = track_interaction(feature_id=3, model_id="gpt-4o-mini", session_id=9, user_id=42,
                               total_latency_ms=1.0, emitter=em)
    assert (direct["feature_id"], direct["session_id"], direct["user_id"]) == ("3", "9", "42")


def test_an_unwritable_aiw_home_never_raises_on_a_call(fake_openai, tmp_path, monkeypatch):
    not_a_dir = tmp_path / "a-file"
    not_a_dir.write_text("")  # AIW_HOME below a regular file: unwritable even for root
    monkeypatch.setenv("AIW_HOME", str(not_a_dir / "aiw"))
    c = instrument_openai(_client(fake_openai), feature_id="qa")
    response = c.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}])
    assert response.choices[0].message.content == "".join(FakeOpenAI.WORDS)
    stream = c.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}],
                                       stream=True)
    assert "".join(ch.choices[0].delta.content or "" for ch in stream if ch.choices) == "".join(FakeOpenAI.WORDS)


def test_a_failing_emitter_never_reaches_the_caller(fake_openai):
    class Broken:
        def emit(self, record):
            raise RuntimeError("emitter bug")

    c = instrument_openai(_client(fake_openai), feature_id="qa", emitter=Broken())
    response = c.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}])
    assert response.choices[0].message.content == "".join(FakeOpenAI.WORDS)
    stream = c.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}],
                                       stream=True)
    assert "".join(ch.choices[0].delta.content or "" for ch in stream if ch.choices) == "".join(FakeOpenAI.WORDS)
