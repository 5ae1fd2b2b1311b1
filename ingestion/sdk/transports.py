"""Where the emitter delivers batches: a landing directory, or the HTTP collector.

A transport's `send(records)` returns only once the batch is durable at the destination and raises
`TransportError` otherwise; the emitter owns retries, backoff and spilling.
"""

from __future__ import annotations

import datetime as dt
import gzip
import itertools
import os
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any, Protocol

import orjson

from ingestion.layout import Layout


class TransportError(Exception):
    """A batch was not delivered. `retryable` is False when sending the same bytes again cannot help."""

    def __init__(self, message: str, *, retryable: bool = True) -> None:
        super().__init__(message)
        self.retryable = retryable


class Transport(Protocol):
    """Delivers one batch of records durably, or raises.

    A transport may also offer `send_ndjson(data: bytes, count: int)`: the emitter serializes each batch
    once (for its journal) and hands those bytes over instead of the records, saving a second encoding.
    """

    def send(self, records: list[dict[str, Any]]) -> None: ...


def ndjson(records: list[dict[str, Any]]) -> bytes:
    """Records as newline-delimited JSON bytes (one record per line, trailing newline)."""
    return b"".join(orjson.dumps(r) + b"\n" for r in records)


def write_atomically(path: Path, data: bytes, *, fsync: bool = True) -> None:
    """Write `path` so that readers see either nothing or the whole file: temp name, fsync, rename.

    The temporary name starts with a dot and ends in .tmp, names the landing loader skips.
    """
    tmp = path.with_name(f".{path.name}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
        if fsync:
            os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)
    if fsync:
        # The rename itself is durable only once the directory entry is on disk.
        dir_fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)


class LandingTransport:
    """Writes each batch as one native NDJSON file: landing/native/<UTC date>/<prefix>-<time>-<pid>-<n>.ndjson."""

    def __init__(self, home: str | os.PathLike[str] | Layout | None = None, *, prefix: str = "sdk",
                 fsync: bool = True) -> None:
        self.layout = home if isinstance(home, Layout) else Layout.from_env(home)
        self.prefix = prefix
        self.fsync = fsync
        self._seq = itertools.count()
        self._nonce = os.urandom(3).hex()  # two processes with the same pid (containers) never collide

    def send(self, records: list[dict[str, Any]]) -> None:
        self.send_ndjson(ndjson(records), len(records))

    def send_ndjson(self, data: bytes, count: int) -> None:
        """Write one batch, already encoded as NDJSON, as one landing file."""
        now = dt.datetime.now(dt.UTC)
        # The directory date is the load date the loader uses; event dates come from each record.
        directory = self.layout.landing_dir("native") / now.date().isoformat()
        name = f"{self.prefix}-{now:%H%M%S%f}-{os.getpid()}-{self._nonce}-{next(self._seq):06d}.ndjson"
        try:
            directory.mkdir(parents=True, exist_ok=True)
            write_atomically(directory / name, data, fsync=self.fsync)
        except OSError as exc:
            raise TransportError(f"cannot write landing file under {directory}: {exc}") from exc


class HttpTransport:
    """POSTs each batch to the collector: `POST <url>` with a gzip JSON array and a bearer token; 2xx = durable."""

    # Statuses worth retrying: the collector or a proxy is overloaded or restarting.
    RETRYABLE_STATUS = frozenset({408, 425, 429, 500, 502, 503, 504})

    def __init__(self, url: str, token: str, *, timeout: float = 10.0) -> None:
        if not url.rstrip("/").endswith("/v1/events"):
            url = url.rstrip("/") + "/v1/events"
        self.url = url
        self.token = token
        self.timeout = timeout

    def send(self, records: list[dict[str, Any]]) -> None:
        self._post(orjson.dumps(records), len(records))

    def send_ndjson(self, data: bytes, count: int) -> None:
        """POST one batch given as NDJSON, re-framed as the JSON array the collector documents."""
        self._post(b"[" + b",".join(data.splitlines()) + b"]", count)

    def _post(self, payload: bytes, count: int) -> None:
        body = gzip.compress(payload, compresslevel=5)
        request = urllib.request.Request(self.url, data=body, method="POST", headers={
            "Content-Type": "application/json", "Content-Encoding": "gzip",
            "Authorization": f"Bearer {self.token}"})
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                response.read()
        except urllib.error.HTTPError as exc:
            detail = exc.read(300).decode("utf-8", "replace")
            raise TransportError(f"collector answered {exc.code} for {count} records: {detail}",
                                 retryable=exc.code in self.RETRYABLE_STATUS) from exc
        except (urllib.error.URLError, OSError, TimeoutError) as exc:
            raise TransportError(f"collector at {self.url} unreachable: {exc}") from exc
