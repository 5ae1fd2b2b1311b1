"""Durable landing files: append, fsync, rotate by size and age, and recover what a crash left open.

A collector file lives at `landing/<source>/<YYYY-MM-DD>/.collector-<stamp>-<id>-<seq>.ndjson.tmp` while it
is open (the loader skips names starting with "." or ending in .tmp) and is renamed to
`collector-<stamp>-<id>-<seq>.ndjson` when it is rotated, so the loader never reads half a file.

Guarantees:
- `LandingWriter.append` returns only after the bytes are written and fsynced: a caller may acknowledge them.
- An open temporary file is held under an exclusive `flock` for its whole life. `recover_leftovers` finalizes
  only temporary files nobody holds (their writer died, even by `kill -9`), so acknowledged lines are never
  stranded under a name the loader skips, and a second collector on the same AIW_HOME never steals a live file.
- A crash can leave a partial last line (a write cut short, never acknowledged); recovery cuts it off, so a
  finalized file holds whole records only.

Everything here is synchronous and meant to run on one thread per writer (see `commit.py`).
"""

from __future__ import annotations

import datetime as dt
import fcntl
import logging
import os
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger("aiw.collector")

TEMP_PREFIX = ".collector-"
TEMP_SUFFIX = ".tmp"
FINAL_PREFIX = "collector-"
EXTENSION = ".ndjson"

# Linux has fdatasync (no inode timestamps to flush); macOS only fsync.
_datasync: Callable[[int], None] = getattr(os, "fdatasync", os.fsync)


def fsync_dir(path: Path) -> None:
    """Make a directory's entries (a created or renamed file) durable."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def final_name(temp_name: str) -> str:
    """The name a temporary collector file gets when it is finalized."""
    return temp_name[1:-len(TEMP_SUFFIX)]


@dataclass
class _OpenFile:
    fd: int
    temp_path: Path
    final_path: Path
    date: str
    opened_at: float  # time.monotonic()
    size: int = 0


class LandingWriter:
    """Appends whole-line batches durably to rotating landing files of one source."""

    def __init__(self, source_dir: Path, *, rotate_bytes: int, rotate_seconds: float,
                 clock: Callable[[], dt.datetime] = _utc_now) -> None:
        self.source_dir = source_dir
        self.rotate_bytes = rotate_bytes
        self.rotate_seconds = rotate_seconds
        self._clock = clock
        self._instance = secrets.token_hex(4)  # keeps names unique across processes and hosts
        self._seq = 0
        self._file: _OpenFile | None = None
        self.files_finalized = 0
        self.bytes_written = 0

    # -- writing -----------------------------------------------------------------------------------------

    def append(self, data: bytes) -> None:
        """Write `data` (whole lines) and fsync it; on return it survives a crash. Raises OSError on failure."""
        if not data:
            return
        now = self._clock()
        date = now.date().isoformat()
        if self._file is not None and (self._file.date != date or self._due(self._file)):
            self.rotate()
        f = self._file or self._open(now)
        start = f.size
        try:
            view = memoryview(data)
            while view:
                written = os.write(f.fd, view)
                view = view[written:]
            _datasync(f.fd)
        except OSError:
            self._abandon(start)
            raise
        f.size += len(data)
        self.bytes_written += len(data)
        if f.size >= self.rotate_bytes:
            self.rotate()

    def _due(self, f: _OpenFile) -> bool:
        return f.size >= self.rotate_bytes or time.monotonic() - f.opened_at >= self.rotate_seconds

    def rotate_if_due(self) -> bool:
        """Finalize the open file when it is old or big enough (called periodically, so quiet files appear)."""
        if self._file is not None and (self._due(self._file) or self._file.date != self._clock().date().isoformat()):
            self.rotate()
            return True
        return False

    def rotate(self) -> None:
        """Finalize the open file (if any): rename it to its loadable name, durably, then release it."""
        f, self._file = self._file, None
        if f is None:
            return
        try:
            os.replace(f.temp_path, f.final_path)
            fsync_dir(f.temp_path.parent)
        finally:
            os.close(f.fd)  # closing drops the flock only after the rename is durable
        self.files_finalized += 1
        log.debug("finalized %s (%d bytes)", f.final_path, f.size)

    def close(self) -> None:
        """Finalize the open file; the writer can still be used afterwards (it opens a new file)."""
        self.rotate()

    def _open(self, now: dt.datetime) -> _OpenFile:
        date = now.date().isoformat()
        day_dir = self.source_dir / date
        if not day_dir.exists():
            day_dir.mkdir(parents=True, exist_ok=True)
            fsync_dir(day_dir.parent)
        while True:
            self._seq += 1
            name = f"{FINAL_PREFIX}{now:%Y%m%dT%H%M%S}Z-{self._instance}-{self._seq:06d}{EXTENSION}"
            temp_path = day_dir / f".{name}{TEMP_SUFFIX}"
            fd = os.open(temp_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_APPEND | os.O_CLOEXEC, 0o644)
            fcntl.flock(fd, fcntl.LOCK_EX)
            if os.fstat(fd).st_nlink == 0:
                # A recovering collector removed it as an empty leftover before we locked it: take another name.
                os.close(fd)
                continue
            break
        fsync_dir(day_dir)
        self._file = _OpenFile(fd, temp_path, day_dir / name, date, time.monotonic())
        return self._file

    def _abandon(self, good_size: int) -> None:
        """After a failed write: cut the file back to what was acknowledged, finalize it, start afresh next time."""
        f = self._file
        if f is None:
            return
        try:
            os.ftruncate(f.fd, good_size)
            os.fsync(f.fd)
            f.size = good_size
        except OSError:
            log.exception("could not cut %s back to %d bytes after a failed write", f.temp_path, good_size)
        try:
            if f.size == 0:
                self._file = None
                os.unlink(f.temp_path)
                os.close(f.fd)
            else:
                self.rotate()
        except OSError:
            log.exception("could not finalize %s after a failed write; it is recovered on the next start",
                          f.temp_path)
            self._file = None


@dataclass(frozen=True)
class Recovered:
    """What startup recovery did with one leftover temporary file."""

    temp_path: Path
    final_path: Path | None  # None: the file was empty (or held only a partial line) and was removed
    bytes_kept: int
    bytes_cut: int


def recover_leftovers(source_dir: Path) -> list[Recovered]:
    """Finalize temporary files left by collectors that died; files a live collector holds are left alone."""
    done: list[Recovered] = []
    if not source_dir.exists():
        return done
    for temp_path in sorted(source_dir.glob(f"*/{TEMP_PREFIX}*{EXTENSION}{TEMP_SUFFIX}")):
        try:
            fd = os.open(temp_path, os.O_RDWR | os.O_CLOEXEC)
        except FileNotFoundError:
            continue  # finalized by its owner meanwhile
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                continue  # a live collector is writing it
            if os.fstat(fd).st_nlink == 0:
                continue  # renamed by its owner between our listing and our lock
            size = os.fstat(fd).st_size
            keep = _whole_lines_size(fd, size)
            if keep != size:
                os.ftruncate(fd, keep)  # a write cut short by the crash: never acknowledged
                os.fsync(fd)
            if keep == 0:
                os.unlink(temp_path)
                final = None
            else:
                final = temp_path.with_name(final_name(temp_path.name))
                os.replace(temp_path, final)
            fsync_dir(temp_path.parent)
            done.append(Recovered(temp_path, final, keep, size - keep))
        finally:
            os.close(fd)
    return done


def _whole_lines_size(fd: int, size: int) -> int:
    """The length of the file up to and including its last newline."""
    block = 1 << 16
    end = size
    while end > 0:
        start = max(0, end - block)
        chunk = os.pread(fd, end - start, start)
        cut = chunk.rfind(b"\n")
        if cut >= 0:
            return start + cut + 1
        end = start
    return 0
