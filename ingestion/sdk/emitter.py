"""BatchEmitter: hands records to a transport from a background thread, without ever blocking the caller.

Policy (documented in docs/sdk.md):
- `emit()` is a bounded, lock-protected append: it never waits on I/O.
- Batches of up to `batch_size` (100) go out when full or every `flush_interval` (5 s).
- A failed send is retried `max_retries` (3) times with exponential backoff (x1.5) and jitter; then the
  batch stays in the spill directory, which the next emitter started on that directory sends first.
- Memory is bounded by `max_queue` records. When full, the overflow policy decides: "drop_newest" (default:
  the record being emitted is dropped) or "drop_oldest" (the oldest queued record makes room). Either way
  it is counted in `dropped`.
- `close()` (also run at interpreter exit) sends what is queued within a timeout and spills what is left.
Counters are in records (events), not batches.
"""

from __future__ import annotations

import atexit
import collections
import logging
import os
import random
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from ingestion.layout import Layout
from ingestion.sdk.spill import SpillDir, SpillFile
from ingestion.sdk.transports import Transport, TransportError, ndjson

log = logging.getLogger("ingestion.sdk")

Overflow = Literal["drop_newest", "drop_oldest"]


@dataclass(frozen=True)
class EmitterStats:
    """A snapshot of an emitter's counters (records)."""

    emitted: int  # accepted by emit()
    sent: int  # acknowledged by the transport (spilled batches resent at start-up included)
    retried: int  # records re-sent after a failed attempt (one batch of 100 retried twice: 200)
    spilled: int  # records left in the spill directory after their retries ran out (or at close)
    dropped: int  # records lost: overflow, emit after close, unwritable spill
    restored: int  # records read back from an earlier emitter's spill files
    queued: int  # waiting in memory now
    in_flight: int  # taken by the sender, not yet sent or spilled


def default_spill_dir() -> Path:
    """$AIW_SDK_SPILL_DIR, else <AIW_HOME>/sdk-spill (outside landing/: the loader must not read it)."""
    configured = os.environ.get("AIW_SDK_SPILL_DIR")
    return Path(configured) if configured else Layout.from_env().home / "sdk-spill"


class BatchEmitter:
    """A thread-safe background sender of records to one transport, with retries, spill and bounded memory."""

    def __init__(self, transport: Transport, *, spill_dir: str | os.PathLike[str] | None = None,
                 batch_size: int = 100, flush_interval: float = 5.0, max_queue: int = 10_000,
                 overflow: Overflow = "drop_newest", max_retries: int = 3, backoff_initial: float = 0.5,
                 backoff_factor: float = 1.5, jitter: float = 0.25, close_timeout: float = 10.0,
                 at_exit: bool = True) -> None:
        if batch_size < 1 or max_queue < batch_size:
            raise ValueError("need 1 <= batch_size <= max_queue")
        if overflow not in ("drop_newest", "drop_oldest"):
            raise ValueError(f"overflow must be 'drop_newest' or 'drop_oldest', not {overflow!r}")
        self.transport = transport
        self.spill = SpillDir(spill_dir if spill_dir is not None else default_spill_dir())
        self.batch_size, self.flush_interval, self.max_queue = batch_size, flush_interval, max_queue
        self.overflow = overflow
        self.max_retries, self.backoff_initial, self.backoff_factor = max_retries, backoff_initial, backoff_factor
        self.jitter, self.close_timeout = jitter, close_timeout
        self._buf: collections.deque[dict[str, Any]] = collections.deque()
        self._cond = threading.Condition(threading.Lock())
        self._abort = threading.Event()  # close() gave up waiting: stop backing off, spill instead
        self._closing = self._closed = self._flush_requested = False
        self._emitted = self._sent = self._retried = self._spilled = self._dropped = self._restored = 0
        self._in_flight = 0
        self._rng = random.Random()
        self._thread = threading.Thread(target=self._run, name="aiw-batch-emitter", daemon=True)
        self._thread.start()
        self._at_exit = at_exit
        if at_exit:
            atexit.register(self.close)

    # -- caller side -------------------------------------------------------------------------------

    def emit(self, record: dict[str, Any]) -> bool:
        """Queue one record for sending. Never blocks on I/O. False when the record was dropped."""
        with self._cond:
            if self._closing:
                self._dropped += 1
                return False
            if len(self._buf) >= self.max_queue:
                self._dropped += 1
                if self.overflow == "drop_newest":
                    return False
                self._buf.popleft()
            self._buf.append(record)
            self._emitted += 1
            if len(self._buf) == self.batch_size:
                self._cond.notify()
        return True

    def flush(self, timeout: float | None = None) -> bool:
        """Send everything queued now; True when nothing is queued or in flight before `timeout` seconds."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._cond:
            self._flush_requested = True
            self._cond.notify_all()
            while self._buf or self._in_flight:
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    return False
                self._cond.wait(remaining)
        return True

    def close(self, timeout: float | None = None) -> EmitterStats:
        """Send what is queued, waiting at most `timeout` seconds (default `close_timeout`); spill the rest.

        Idempotent; registered with atexit so a normal interpreter exit does not lose the last batch.
        """
        with self._cond:
            already = self._closing
            self._closing = True
            self._cond.notify_all()
        if already:
            self._thread.join(0 if self._closed else (timeout if timeout is not None else self.close_timeout))
            return self.stats()
        self._thread.join(timeout if timeout is not None else self.close_timeout)
        if self._thread.is_alive():
            # Out of time: stop retrying and put what is still in memory on disk for the next emitter.
            self._abort.set()
            with self._cond:
                leftovers = list(self._buf)
                self._buf.clear()
            if leftovers:
                self._spill_now(leftovers)
        self._closed = True
        if self._at_exit:
            atexit.unregister(self.close)
        return self.stats()

    def stats(self) -> EmitterStats:
        """Current counters."""
        with self._cond:
            return EmitterStats(self._emitted, self._sent, self._retried, self._spilled, self._dropped,
                                self._restored, len(self._buf), self._in_flight)

    def __enter__(self) -> BatchEmitter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- sender thread ------------------------------------------------------------------------------

    def _run(self) -> None:
        try:
            self._send_spilled()
            while (batch := self._next_batch()) is not None:
                self._deliver(batch)
                with self._cond:
                    self._in_flight -= len(batch)
                    self._cond.notify_all()
        except Exception:  # a bug here must not kill the caller; the records stay countable
            log.exception("aiw batch emitter stopped")

    def _send_spilled(self) -> None:
        """Send batches earlier emitters left in the spill directory, before anything new."""
        for spill_file, records, bad in self.spill.claim_pending():
            with self._cond:
                self._restored += len(records)
                self._dropped += bad
            if bad:
                log.warning("aiw: %d unreadable line(s) in %s dropped", bad, spill_file.path)
            if not records:
                spill_file.delivered()
                continue
            chunks = [records[i:i + self.batch_size] for i in range(0, len(records), self.batch_size)]
            ok = all(self._attempt(chunk) for chunk in chunks)
            if ok:
                spill_file.delivered()
            else:
                spill_file.keep()  # the destination is still down: keep it, do not stall new records
                log.warning("aiw: destination still failing; %s stays spilled", spill_file.path.name)
                return

    def _next_batch(self) -> list[dict[str, Any]] | None:
        """Wait for a full batch, the flush interval, a flush request or close; None when closed and empty."""
        with self._cond:
            deadline = time.monotonic() + self.flush_interval
            while True:
                n = len(self._buf)
                now = time.monotonic()
                if n >= self.batch_size or (n and (self._closing or self._flush_requested or now >= deadline)):
                    take = min(n, self.batch_size)
                    batch = [self._buf.popleft() for _ in range(take)]
                    self._in_flight += take
                    if not self._buf:
                        self._flush_requested = False
                    return batch
                if self._closing:
                    return None
                if n == 0:
                    self._flush_requested = False
                    if now >= deadline:
                        deadline = now + self.flush_interval
                self._cond.wait(max(deadline - now, 0.001))

    def _deliver(self, records: list[dict[str, Any]]) -> None:
        spill_file: SpillFile | None = None
        data = ndjson(records)  # encoded once, for the journal and for the transport
        try:
            spill_file = self.spill.journal(records, data)
        except OSError as exc:
            log.warning("aiw: cannot journal a batch (%s); sending it without a safety copy", exc)
        if self._attempt(records, data):
            if spill_file is not None:
                spill_file.delivered()
            return
        if spill_file is None:
            with self._cond:
                self._dropped += len(records)
            log.error("aiw: %d record(s) lost: not delivered and the spill directory is unwritable", len(records))
            return
        spill_file.keep()
        with self._cond:
            self._spilled += len(records)
        log.warning("aiw: %d record(s) spilled to %s after %d retries", len(records), spill_file.path,
                    self.max_retries)

    def _attempt(self, records: list[dict[str, Any]], data: bytes | None = None) -> bool:
        """Send with retries and backoff; True when the transport acknowledged the batch."""
        send_ndjson = getattr(self.transport, "send_ndjson", None) if data is not None else None
        for attempt in range(self.max_retries + 1):
            try:
                if send_ndjson is not None:
                    send_ndjson(data, len(records))
                else:
                    self.transport.send(records)
            except TransportError as exc:
                if not exc.retryable:
                    log.warning("aiw: batch rejected, not retrying: %s", exc)
                    return False
                failure: Exception = exc
            except Exception as exc:  # a transport bug or an unexpected error: treat like a failed send
                failure = exc
            else:
                with self._cond:
                    self._sent += len(records)
                return True
            if attempt == self.max_retries or self._abort.is_set():
                log.warning("aiw: send failed (%s)", failure)
                return False
            delay = self.backoff_initial * self.backoff_factor ** attempt
            delay *= self._rng.uniform(1 - self.jitter, 1 + self.jitter)  # de-synchronise many producers
            with self._cond:
                self._retried += len(records)
            if self._abort.wait(delay):
                return False
        return False

    def _spill_now(self, records: list[dict[str, Any]]) -> None:
        try:
            self.spill.journal(records).keep()
        except OSError as exc:
            with self._cond:
                self._dropped += len(records)
            log.error("aiw: %d record(s) lost at close: %s", len(records), exc)
            return
        with self._cond:
            self._spilled += len(records)
