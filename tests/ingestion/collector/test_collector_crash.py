"""kill -9 during a load test: every acknowledged event is in landing after the collector restarts."""

from __future__ import annotations

import http.client
import threading
import time
from pathlib import Path

import orjson

from .conftest import Collector, landed_lines, temp_files

THREADS = 8
BATCH = 50
KILL_AFTER_ACKS = 400  # requests acknowledged before the kill (bounded in count ...)
KILL_AFTER_SECONDS = 20.0  # ... and in time (generous: a busy CI machine acknowledges slowly)


def _sender(c: Collector, worker: int, stop: threading.Event, acked: set[str], attempted: set[str],
            lock: threading.Lock, acked_requests: list[int]) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", c.port, timeout=10)
    headers = {"Authorization": f"Bearer {c.token}", "Content-Type": "application/json"}
    seq = 0
    try:
        while not stop.is_set():
            ids = [f"w{worker}-r{seq}-{i}" for i in range(BATCH)]
            body = orjson.dumps([{"event_id": e, "session_id": f"s{worker}", "pad": "x" * 200} for e in ids])
            with lock:
                attempted.update(ids)
            conn.request("POST", "/v1/events", body=body, headers=headers)
            resp = conn.getresponse()
            resp.read()
            if resp.status == 200:
                with lock:
                    acked.update(ids)
                    acked_requests.append(1)
            seq += 1
    except (OSError, http.client.HTTPException):
        pass  # the collector died under us: this request was not acknowledged
    finally:
        conn.close()


def test_kill_9_during_load_loses_nothing_acknowledged(tmp_path: Path) -> None:
    # Small files so the crash finds both finalized files and one still open under its temporary name.
    c = Collector(home=tmp_path, token="k" * 32, args=["--rotate-bytes", "300000"]).start()
    acked: set[str] = set()
    attempted: set[str] = set()
    acked_requests: list[int] = []
    lock = threading.Lock()
    stop = threading.Event()
    threads = [threading.Thread(target=_sender, args=(c, w, stop, acked, attempted, lock, acked_requests))
               for w in range(THREADS)]
    for t in threads:
        t.start()
    until = time.monotonic() + KILL_AFTER_SECONDS
    # Kill once enough was acknowledged and a file is open under its temporary name, so the crash
    # exercises recovery (rotation closes files now and then; wait for the next one to open).
    while time.monotonic() < until and (len(acked_requests) < KILL_AFTER_ACKS or not temp_files(tmp_path)):
        time.sleep(0.005)
    c.kill()  # SIGKILL with requests in flight
    stop.set()
    for t in threads:
        t.join(timeout=15)
    assert not any(t.is_alive() for t in threads)
    assert len(acked) >= 50 * BATCH, "the load test did not get going before the kill"
    assert temp_files(tmp_path), "the crash should leave an open temporary file for recovery to finalize"

    restarted = Collector(home=tmp_path, token=c.token, port=c.port).start()  # recovery runs at start-up
    assert temp_files(tmp_path) == []  # finalized before the first request is served
    assert restarted.stop() == 0

    lines = landed_lines(tmp_path)
    print(f"acked {len(acked)} attempted {len(attempted)} landed {len(lines)}")
    found = [orjson.loads(line)["event_id"] for line in lines]  # every line is a whole JSON record
    assert acked <= set(found), f"{len(acked - set(found))} acknowledged events missing"
    assert set(found) <= attempted
    assert len(found) == len(set(found))
    # Beyond the acknowledged ones, only requests in flight at the kill may have landed.
    assert len(found) - len(acked) <= THREADS * BATCH
