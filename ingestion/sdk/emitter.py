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
- A batch the destination rejects as not retryable (a 400, a 413) is moved to `<spill dir>/rejected/` with a
  `.reason.txt` beside it and counted in `rejected`; it never blocks the batches after it.
- After `fork()` the child gets an empty queue and its own sender thread (started on its first emit); the
  parent keeps sending what it had queued, so nothing is sent twice. A fork child that ends through
  multiprocessing's `os._exit` is still flushed (a multiprocessing finalizer).
- SIGTERM: the first emitter created in the main thread with `handle_sigterm=True` (the default) installs a
  handler when SIGTERM has the default action: it raises `SystemExit(143)` in the main thread, so `finally`
  blocks and atexit (and with it `close()`) run, and the process still exits with status 143. An application
  that has its own SIGTERM handler keeps it: ours calls it and leaves the exit to it.
Counters are in records (events), not batches.
"""

from __future__ import annotations

import atexit
import collections
import logging
import os
import random
import signal
import sys
import threading
import time
import weakref
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
    rejected: int = 0  # records the destination refused for good, kept in <spill dir>/rejected/


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
                 at_exit: bool = True, handle_sigterm: bool = True) -> None:
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
        self._closing = self._closed = False
        self._reset_state()
        self._open_journal: set[SpillFile] = set()  # batches this process is sending now
        self._thread = self._start_sender()
        self._at_exit = at_exit
        if at_exit:
            atexit.register(self.close)
            if handle_sigterm:
                _install_sigterm_handler()
        _LIVE.add(self)

    def _reset_state(self) -> None:
        """Fresh queue, lock and counters: at construction, and in a forked child (whose copies are the
        parent's: its queue is the parent's to send, and its lock may have been held at the fork)."""
        self._buf: collections.deque[dict[str, Any]] = collections.deque()
        self._cond = threading.Condition(threading.Lock())
        self._abort = threading.Event()  # close() gave up waiting: stop backing off, spill instead
        self._flush_requested = False
        self._emitted = self._sent = self._retried = self._spilled = self._dropped = self._restored = 0
        self._rejected = self._in_flight = 0
        self._rng = random.Random()

    def _start_sender(self) -> threading.Thread:
        thread = threading.Thread(target=self._run, name="aiw-batch-emitter", daemon=True)
        thread.start()
        return thread

    def _after_fork_in_child(self) -> None:
        self._reset_state()
        for spill_file in list(self._open_journal):
            spill_file.forget_in_child()  # the parent still owns (and sends) those batches
        self._open_journal = set()
        self.spill.after_fork()
        self._thread = None  # type: ignore[assignment]  # started by the first emit in the child

    def _start_in_child(self) -> None:
        """The child's own sender; its at-exit flush also runs when multiprocessing ends it with os._exit."""
        self._thread = self._start_sender()
        mp_util = sys.modules.get("multiprocessing.util")
        if mp_util is not None and self._at_exit:
            mp_util.Finalize(None, self.close, exitpriority=100)

    # -- caller side -------------------------------------------------------------------------------

    def emit(self, record: dict[str, Any]) -> bool:
        """Queue one record for sending. Never blocks on I/O. False when the record was dropped."""
        with self._cond:
            if self._closing:
                self._dropped += 1
                return False
            if self._thread is None:
                self._start_in_child()
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
        thread = self._thread
        if thread is None:  # a forked child that never emitted: nothing of its own to send
            self._closed = True
            return self.stats()
        if already:
            thread.join(0 if self._closed else (timeout if timeout is not None else self.close_timeout))
            return self.stats()
        thread.join(timeout if timeout is not None else self.close_timeout)
        if thread.is_alive():
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
                                self._restored, len(self._buf), self._in_flight, self._rejected)

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
            outcome = DELIVERED_OK
            for chunk in chunks:
                outcome = self._attempt(chunk)
                if outcome is not DELIVERED_OK:
                    break
            if outcome is DELIVERED_OK:
                spill_file.delivered()
            elif isinstance(outcome, Rejected):
                # This batch can never be delivered as it is; the ones after it may well be.
                self._reject(spill_file, len(records), outcome.reason)
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
            self._open_journal.add(spill_file)
        except OSError as exc:
            log.warning("aiw: cannot journal a batch (%s); sending it without a safety copy", exc)
        outcome = self._attempt(records, data)
        if spill_file is not None:
            self._open_journal.discard(spill_file)
        if outcome is DELIVERED_OK:
            if spill_file is not None:
                spill_file.delivered()
            return
        if isinstance(outcome, Rejected) and spill_file is not None:
            self._reject(spill_file, len(records), outcome.reason)
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

    def _reject(self, spill_file: SpillFile, count: int, reason: str) -> None:
        try:
            where = spill_file.reject(reason)
        except OSError as exc:  # cannot move it: leave it where it is rather than lose it
            spill_file.keep()
            log.error("aiw: cannot move rejected batch %s aside: %s", spill_file.path, exc)
            return
        with self._cond:
            self._rejected += count
        log.error("aiw: %d record(s) rejected by the destination (%s); kept in %s", count, reason, where)

    def _attempt(self, records: list[dict[str, Any]], data: bytes | None = None) -> object:
        """Send with retries and backoff: DELIVERED_OK, a `Rejected` (not retryable), or FAILED."""
        send_ndjson = getattr(self.transport, "send_ndjson", None) if data is not None else None
        for attempt in range(self.max_retries + 1):
            try:
                if send_ndjson is not None:
                    send_ndjson(data, len(records))
                else:
                    self.transport.send(records)
            except TransportError as exc:
                if exc.rejected:
                    return Rejected(str(exc))
                if not exc.retryable:
                    log.warning("aiw: send failed, not retrying: %s", exc)
                    return FAILED
                failure: Exception = exc
            except Exception as exc:  # a transport bug or an unexpected error: treat like a failed send
                failure = exc
            else:
                with self._cond:
                    self._sent += len(records)
                return DELIVERED_OK
            if attempt == self.max_retries or self._abort.is_set():
                log.warning("aiw: send failed (%s)", failure)
                return FAILED
            delay = self.backoff_initial * self.backoff_factor ** attempt
            delay *= self._rng.uniform(1 - self.jitter, 1 + self.jitter)  # de-synchronise many producers
            with self._cond:
                self._retried += len(records)
            if self._abort.wait(delay):
                return FAILED
        return FAILED

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


# -- outcomes of one send -------------------------------------------------------------------------------

DELIVERED_OK = object()
FAILED = object()  # retryable failure: retry later or spill


@dataclass(frozen=True)
class Rejected:
    """The destination refused the batch for good (HTTP 400, 413, 415, 422; a record over its limit)."""

    reason: str


# -- process-wide hooks: fork and SIGTERM ------------------------------------------------------------------

_LIVE: weakref.WeakSet[BatchEmitter] = weakref.WeakSet()


def _reset_emitters_in_child() -> None:
    for emitter in list(_LIVE):
        try:
            emitter._after_fork_in_child()
        except Exception:  # never break the application's fork
            log.exception("aiw: could not reset an emitter after fork")


os.register_at_fork(after_in_child=_reset_emitters_in_child)

_sigterm_installed = False
_previous_sigterm: Any = None


def _on_sigterm(signum: int, frame: Any) -> None:
    previous = _previous_sigterm
    if callable(previous):
        previous(signum, frame)  # the application's own policy; its exit runs atexit and flushes
        return
    # Default action was "die now", which skips atexit. Exit through the interpreter instead, so queued
    # events are sent (bounded by close_timeout) and the status still says "terminated" (128 + 15).
    raise SystemExit(128 + signum)


def _install_sigterm_handler() -> None:
    """Install `_on_sigterm` once, in the main thread, over the default action or a Python handler.

    Left alone: SIGTERM ignored (SIG_IGN) or handled outside Python (None), and any thread but the main one.
    """
    global _sigterm_installed, _previous_sigterm
    if _sigterm_installed or threading.current_thread() is not threading.main_thread():
        return
    try:
        current = signal.getsignal(signal.SIGTERM)
        if current is _on_sigterm or not (current == signal.SIG_DFL or callable(current)):
            return
        signal.signal(signal.SIGTERM, _on_sigterm)
    except (ValueError, OSError):  # no signals here (an embedded interpreter)
        return
    _previous_sigterm = None if current == signal.SIG_DFL else current
    _sigterm_installed = True
