"""One writer at a time per AIW_HOME: an advisory lock on `$AIW_HOME/.lock`.

Every writer takes it: the lake loader, dbt builds (the pipeline's and the Dagster dbt asset's), `aiw run`
and so every Dagster run that loads or builds. It is `fcntl.flock` on an open file, so the kernel releases it
when the holder exits or dies (kill -9 included): there is no stale lock to clean up by hand.

The lock is re-entrant inside one process: `aiw run` takes it and then runs the loader and dbt, which take it
again; the inner takes only count. The holder writes its pid, start time and purpose into the file, so a
waiter can say whom it waits for.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import os
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

LOCK_NAME = ".lock"

# Held locks of this process, by lock path: [open file, depth, owner pid]. The pid guards a forked child,
# which inherits the open file but must not believe it holds the lock.
_held: dict[str, list] = {}
_guard = threading.Lock()


class WriterBusy(RuntimeError):
    """Another process holds the AIW_HOME writer lock and the caller asked not to wait."""


def lock_path(home: Path) -> Path:
    return Path(home) / LOCK_NAME


def holder(home: Path) -> str:
    """Who holds (or last held) the lock, as the holder wrote it: 'pid N started at ... (purpose)'."""
    try:
        text = lock_path(home).read_text().strip()
    except OSError:
        return "another process"
    return text or "another process"


@contextlib.contextmanager
def writer_lock(home: Path, purpose: str, *, wait: bool = True, say: Callable[[str], None] | None = None,
                poll_seconds: float = 0.2) -> Iterator[None]:
    """Hold the AIW_HOME writer lock for the block; wait for it (saying so once) or raise WriterBusy."""
    path = lock_path(Path(home).resolve())  # resolve() needs no existing path: one key per AIW_HOME
    key = str(path)
    with _guard:
        entry = _held.get(key)
        if entry is not None and entry[2] == os.getpid():
            entry[1] += 1
            reentered = True
        else:
            reentered = False
    if reentered:
        try:
            yield
        finally:
            with _guard:
                _held[key][1] -= 1
        return

    path.parent.mkdir(parents=True, exist_ok=True)
    fh = open(path, "a+")  # noqa: SIM115 - held for the whole block
    try:
        told = False
        while True:
            try:
                fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if not wait:
                    raise WriterBusy(f"{home} is busy: the run of {holder(home)} is writing; "
                                     "try again when it has finished (or run without --no-wait to wait)") from None
                if not told and say is not None:
                    say(f"waiting for the run of {holder(home)} to finish (one writer at a time per AIW_HOME)")
                    told = True
                time.sleep(poll_seconds)
        started = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
        fh.seek(0)
        fh.truncate()
        fh.write(f"pid {os.getpid()} started at {started} ({purpose})\n")
        fh.flush()
        with _guard:
            _held[key] = [fh, 1, os.getpid()]
        try:
            yield
        finally:
            with _guard:
                _held.pop(key, None)
            fcntl.flock(fh.fileno(), fcntl.LOCK_UN)
    finally:
        fh.close()
