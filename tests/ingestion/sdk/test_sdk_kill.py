"""A producer killed with SIGKILL mid-send loses nothing: the next emitter on its spill directory sends it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap

from ingestion.sdk import BatchEmitter, HttpTransport
from tests.ingestion.sdk.conftest import wait_until

PRODUCER = textwrap.dedent("""
    import sys, time
    from ingestion.sdk import BatchEmitter, HttpTransport, track_interaction
    url, token, spill = sys.argv[1:4]
    # The collector never answers: every attempt times out, batches spill one by one.
    em = BatchEmitter(HttpTransport(url, token, timeout=0.2), spill_dir=spill, batch_size=10,
                      flush_interval=0.05, backoff_initial=0.01, at_exit=False)
    for i in range(25):
        event = track_interaction(feature_id="f", model_id="gpt-4o", session_id="s", total_latency_ms=12.5,
                                  prompt_tokens=10, completion_tokens=5, emitter=em)
        print("EVENT", event["event_id"], flush=True)
    while True:  # wait until every batch is on disk and the last one is in flight
        s = em.stats()
        if s.queued == 0 and s.in_flight > 0 and em.spill.pending_count() == 3:
            print("IN_FLIGHT", s.in_flight, s.spilled, flush=True)
            break
        time.sleep(0.005)
    time.sleep(3600)
""")


def test_sigkill_mid_flight_then_next_start_sends_everything(collector, tmp_path):
    spill = tmp_path / "spill"
    collector.hang.set()
    proc = subprocess.Popen([sys.executable, "-c", PRODUCER, collector.url, collector.TOKEN, str(spill)],
                            stdout=subprocess.PIPE, text=True, cwd=os.getcwd())
    emitted, state = [], None
    try:
        for line in proc.stdout:
            word, *rest = line.split()
            if word == "EVENT":
                emitted.append(rest[0])
            elif word == "IN_FLIGHT":
                state = [int(x) for x in rest]
                break
        assert wait_until(lambda: collector.requests >= 1)
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert len(emitted) == 25 and state == [5, 20]  # 20 spilled after their retries, 5 in flight at the kill
    assert collector.accepted == []

    collector.hang.clear()
    collector.release.set()
    em = BatchEmitter(HttpTransport(collector.url, collector.TOKEN), spill_dir=spill, at_exit=False)
    stats = em.close()
    delivered = [r["event_id"] for r in collector.accepted]
    assert sorted(delivered) == sorted(emitted)  # nothing lost, each acknowledged once
    assert (stats.restored, stats.sent, stats.dropped) == (25, 25, 0)
    # The dead producer's unanswered attempts reached the collector too: if it had stored them, the only
    # effect would be repeated event_ids, which the warehouse drops as duplicates.
    assert set(r["event_id"] for r in collector.received) == set(emitted)
    assert em.spill.pending_count() == 0
