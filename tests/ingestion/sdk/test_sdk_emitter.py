"""BatchEmitter: batching, retries with backoff, spill and resend, overflow, thread safety, close and exit."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import threading
import time

import orjson
import pytest

from ingestion.sdk import BatchEmitter, TransportError
from ingestion.sdk.spill import SpillDir
from tests.ingestion.sdk.conftest import MemoryTransport, wait_until


def ev(i: int) -> dict:
    return {"event_id": f"e_{i:06d}", "n": i}


def ids(records) -> list[str]:
    return [r["event_id"] for r in records]


def test_batches_of_at_most_batch_size_in_order(tmp_path):
    transport = MemoryTransport()
    em = BatchEmitter(transport, spill_dir=tmp_path, batch_size=100, flush_interval=60, at_exit=False)
    for i in range(250):
        assert em.emit(ev(i))
    stats = em.close()
    assert [len(b) for b in transport.batches] == [100, 100, 50]
    assert ids(transport.records) == [f"e_{i:06d}" for i in range(250)]
    assert (stats.sent, stats.retried, stats.spilled, stats.dropped) == (250, 0, 0, 0)
    assert SpillDir(tmp_path).pending_count() == 0  # journal files removed once acknowledged


def test_partial_batch_goes_out_after_the_flush_interval(tmp_path):
    transport = MemoryTransport()
    em = BatchEmitter(transport, spill_dir=tmp_path, flush_interval=0.2, at_exit=False)
    started = time.monotonic()
    for i in range(3):
        em.emit(ev(i))
    assert wait_until(lambda: len(transport.records) == 3, timeout=3)
    assert time.monotonic() - started >= 0.15  # waited for the interval, not sent one by one
    em.close()


class _RecordingWait:
    """Stands in for the emitter's abort event: records backoff delays instead of sleeping."""

    def __init__(self) -> None:
        self.delays: list[float] = []

    def wait(self, delay: float) -> bool:
        self.delays.append(delay)
        return False

    def is_set(self) -> bool:
        return False

    def set(self) -> None:
        pass


class _NoJitter:
    def uniform(self, a: float, b: float) -> float:
        return 1.0


def test_transport_failing_twice_then_recovering_loses_nothing_and_backs_off_x1_5(tmp_path):
    transport = MemoryTransport(fail_first=2)
    transport.gate = threading.Event()  # hold the first send until the backoff recorder is in place
    em = BatchEmitter(transport, spill_dir=tmp_path, batch_size=10, flush_interval=60, backoff_initial=0.2,
                      at_exit=False)
    em._abort, em._rng = _RecordingWait(), _NoJitter()
    for i in range(10):
        em.emit(ev(i))
    transport.gate.set()
    assert em.flush(timeout=5)
    stats = em.close()
    assert ids(transport.records) == [f"e_{i:06d}" for i in range(10)]
    assert em._abort.delays == pytest.approx([0.2, 0.2 * 1.5])
    assert (stats.sent, stats.retried, stats.spilled, stats.dropped) == (10, 20, 0, 0)


def test_jitter_stays_within_its_band(tmp_path):
    em = BatchEmitter(MemoryTransport(fail_first=99), spill_dir=tmp_path, batch_size=5, backoff_initial=1.0,
                      jitter=0.25, at_exit=False)
    em._abort = _RecordingWait()
    for i in range(5):
        em.emit(ev(i))
    assert wait_until(lambda: em.stats().spilled == 5)
    em.close()
    expected = [1.0, 1.5, 2.25]
    assert len(em._abort.delays) == 3  # 3 retries, then spilled
    for got, base in zip(em._abort.delays, expected, strict=True):
        assert base * 0.75 <= got <= base * 1.25


def test_exhausted_retries_spill_and_the_next_emitter_sends_them_first(tmp_path):
    dead = MemoryTransport(fail_first=10**6)
    em = BatchEmitter(dead, spill_dir=tmp_path, batch_size=10, backoff_initial=0.001, at_exit=False)
    for i in range(25):
        em.emit(ev(i))
    stats = em.close()
    assert (stats.sent, stats.spilled, stats.retried, stats.dropped) == (0, 25, 75, 0)
    assert dead.attempts == 3 * 4  # three batches, each tried once and retried three times
    assert SpillDir(tmp_path).pending_count() == 3

    alive = MemoryTransport()
    em2 = BatchEmitter(alive, spill_dir=tmp_path, batch_size=10, flush_interval=60, at_exit=False)
    for i in range(25, 30):
        em2.emit(ev(i))
    stats2 = em2.close()
    assert ids(alive.records) == [f"e_{i:06d}" for i in range(30)]  # spilled first, in order, then new
    assert (stats2.restored, stats2.sent) == (25, 30)
    assert SpillDir(tmp_path).pending_count() == 0


def test_rejected_batch_is_spilled_without_retrying(tmp_path):
    transport = MemoryTransport(fail_first=1, error=TransportError("401 bad token", retryable=False))
    em = BatchEmitter(transport, spill_dir=tmp_path, batch_size=3, at_exit=False)
    for i in range(3):
        em.emit(ev(i))
    stats = em.close()
    assert transport.attempts == 1 and (stats.retried, stats.spilled) == (0, 3)


@pytest.mark.parametrize("policy,kept", [("drop_newest", range(5, 15)), ("drop_oldest", range(20, 30))])
def test_overflow_is_bounded_counted_and_follows_the_policy(tmp_path, policy, kept):
    transport = MemoryTransport()
    transport.gate = threading.Event()
    em = BatchEmitter(transport, spill_dir=tmp_path, batch_size=5, max_queue=10, overflow=policy,
                      flush_interval=60, at_exit=False)
    for i in range(5):
        em.emit(ev(i))
    assert wait_until(lambda: em.stats().in_flight == 5)  # the first batch is stuck in the transport
    results = [em.emit(ev(i)) for i in range(5, 30)]
    stats = em.stats()
    assert stats.queued == 10 and stats.dropped == 15  # memory stays bounded at max_queue
    if policy == "drop_newest":
        assert results == [True] * 10 + [False] * 15
    transport.gate.set()
    em.close()
    assert ids(transport.records) == [f"e_{i:06d}" for i in [*range(5), *kept]]


def test_many_threads_emit_concurrently_without_loss(tmp_path):
    transport = MemoryTransport()
    em = BatchEmitter(transport, spill_dir=tmp_path, max_queue=100_000, flush_interval=0.05, at_exit=False)

    def produce(t: int) -> None:
        for i in range(2000):
            em.emit({"event_id": f"e_{t}_{i}"})

    threads = [threading.Thread(target=produce, args=(t,)) for t in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    stats = em.close()
    got = ids(transport.records)
    assert len(got) == 16_000 and len(set(got)) == 16_000
    assert all(len(b) <= 100 for b in transport.batches)
    assert (stats.emitted, stats.sent, stats.dropped) == (16_000, 16_000, 0)


def test_close_gives_up_after_its_timeout_and_spills_what_is_left(tmp_path):
    stuck = MemoryTransport()
    stuck.gate = threading.Event()
    em = BatchEmitter(stuck, spill_dir=tmp_path, batch_size=10, flush_interval=60, at_exit=False)
    for i in range(35):
        em.emit(ev(i))
    assert wait_until(lambda: em.stats().in_flight == 10)
    started = time.monotonic()
    stats = em.close(timeout=0.3)
    assert time.monotonic() - started < 2.0
    assert stats.spilled == 25  # the 25 still queued went to disk; the 10 in flight are journaled
    assert em.emit(ev(99)) is False  # closed: counted as dropped, never silently lost
    alive = MemoryTransport()
    BatchEmitter(alive, spill_dir=tmp_path, at_exit=False).close()
    assert ids(alive.records) == [f"e_{i:06d}" for i in range(10, 35)]  # the in-flight batch is still locked
    stuck.gate.set()  # the stuck send completes and removes its journal entry
    assert wait_until(lambda: len(stuck.records) == 10)
    assert wait_until(lambda: SpillDir(tmp_path).pending_count() == 0)


def test_interpreter_exit_flushes_the_last_partial_batch(tmp_path):
    home = tmp_path / "home"
    script = textwrap.dedent(f"""
        from ingestion.sdk import BatchEmitter, LandingTransport
        em = BatchEmitter(LandingTransport({str(home)!r}), spill_dir={str(tmp_path / 'spill')!r},
                          flush_interval=3600)
        for i in range(7):
            em.emit({{"event_id": f"e_{{i}}"}})
        # no close(): the atexit hook must send the partial batch
    """)
    subprocess.run([sys.executable, "-c", script], check=True, timeout=60, cwd=os.getcwd())
    files = list((home / "landing" / "native").rglob("*.ndjson"))
    lines = [orjson.loads(line) for f in files for line in f.read_bytes().splitlines()]
    assert sorted(r["event_id"] for r in lines) == [f"e_{i}" for i in range(7)]
