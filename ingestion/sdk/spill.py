"""The emitter's on-disk journal: batches in flight and batches that could not be delivered.

Every batch is written here before it is sent and removed once the transport acknowledges it, so a
process killed mid-send leaves the batch behind for the next emitter on the same directory (which may
then deliver it twice: the same event_ids, which the warehouse drops as duplicates). A batch that
exhausts its retries simply stays: that is the spill.

Ownership is an exclusive `flock` held while a batch is in flight. The kernel releases it when the
owner dies, however it dies, so a starting emitter can tell a live sender's file from an orphan.
Journal writes are not fsynced (a killed process loses nothing that reached the page cache); a batch
that becomes a spill is fsynced before its lock is released.
"""

from __future__ import annotations

import fcntl
import itertools
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson

from ingestion.sdk.transports import ndjson

SUFFIX = ".ndjson"
REJECTED_DIR = "rejected"  # batches the destination refused for good, each with <name>.reason.txt


class SpillFile:
    """One journaled batch on disk, locked by this process while it holds the file open."""

    def __init__(self, path: Path, fd: int) -> None:
        self.path = path
        self._fd: int | None = fd

    def delivered(self) -> None:
        """The batch is durable at the destination: forget it."""
        try:
            self.path.unlink(missing_ok=True)
        finally:
            self._close()

    def keep(self) -> None:
        """Leave the batch for a later emitter: make it durable, then release the lock."""
        if self._fd is not None:
            try:
                os.fsync(self._fd)
            finally:
                self._close()

    def reject(self, reason: str) -> Path:
        """The destination refused the batch for good: move it to `rejected/` with its reason beside it,
        so it never blocks the batches after it and an operator can look at it (and resend it by hand)."""
        rejected = self.path.parent / REJECTED_DIR
        rejected.mkdir(exist_ok=True)
        target = rejected / self.path.name
        (rejected / (self.path.name + ".reason.txt")).write_text(reason.rstrip() + "\n", encoding="utf-8")
        if self._fd is not None:
            os.fsync(self._fd)
        os.replace(self.path, target)
        self._close()
        return target

    def forget_in_child(self) -> None:
        """In a forked child: drop our copy of the descriptor; the parent keeps the file and its lock."""
        self._close()

    def _close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing the last descriptor releases the flock
            self._fd = None


class SpillDir:
    """A directory of journaled batches shared by every emitter started on it."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        try:
            self.path.mkdir(parents=True, exist_ok=True)
        except OSError:
            pass  # unwritable (a read-only AIW_HOME): journal() raises OSError, which the emitter handles
        self.after_fork()

    def after_fork(self) -> None:
        """New name parts, so a forked child never reuses its parent's file names."""
        self._seq = itertools.count()
        self._nonce = os.urandom(3).hex()

    def journal(self, records: list[dict[str, Any]], data: bytes | None = None) -> SpillFile:
        """Write a batch (`data`: its NDJSON, when already encoded) under a new name, locked until
        `delivered()` or `keep()`."""
        self.path.mkdir(parents=True, exist_ok=True)  # again: it may have been unwritable, or removed
        name = f"batch-{time.time_ns()}-{os.getpid()}-{self._nonce}-{next(self._seq):08d}{SUFFIX}"
        final = self.path / name
        tmp = self.path / f".{name}.tmp"
        fd = os.open(tmp, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)  # locked before the final name exists: no one can claim it early
            view = memoryview(data if data is not None else ndjson(records))
            while view:
                view = view[os.write(fd, view):]
            os.replace(tmp, final)
        except BaseException:
            os.close(fd)
            tmp.unlink(missing_ok=True)
            raise
        return SpillFile(final, fd)

    def claim_pending(self) -> Iterator[tuple[SpillFile, list[dict[str, Any]], int]]:
        """Orphaned batches, oldest first, each locked for the caller: (file, records, unreadable lines).

        Files another live emitter holds are skipped. Partial temp files of a writer that died are removed:
        their batch never left memory, so nothing in them was promised to anyone.
        """
        if not self.path.is_dir():
            return
        for tmp in sorted(self.path.glob(".*.tmp")):
            fd = self._try_lock(tmp)
            if fd is not None:
                tmp.unlink(missing_ok=True)
                os.close(fd)
        for path in sorted(self.path.glob(f"batch-*{SUFFIX}"), key=lambda p: p.name):
            fd = self._try_lock(path)
            if fd is None:
                continue
            if os.fstat(fd).st_nlink == 0:  # delivered and removed by its owner while we waited
                os.close(fd)
                continue
            with os.fdopen(os.dup(fd), "rb") as fh:
                lines = fh.read().splitlines()
            records, bad = [], 0
            for line in lines:
                if not line.strip():
                    continue
                try:
                    records.append(orjson.loads(line))
                except orjson.JSONDecodeError:
                    bad += 1
            yield SpillFile(path, fd), records, bad

    def pending_count(self) -> int:
        """Batches on disk (in flight in some process, or spilled)."""
        return sum(1 for _ in self.path.glob(f"batch-*{SUFFIX}"))

    @staticmethod
    def _try_lock(path: Path) -> int | None:
        try:
            fd = os.open(path, os.O_RDWR)
        except FileNotFoundError:
            return None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return None
        return fd
