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
    """A batch was not delivered. `retryable` is False when sending the same bytes again soon cannot help.

    `rejected` is True when the batch itself is the problem (malformed, too large): it will never be
    accepted, so the emitter moves it aside instead of keeping it at the head of the spill directory. A
    not-retryable error that is not a rejection (a wrong token) is spilled: it may go through once the
    configuration is fixed.
    """

    def __init__(self, message: str, *, retryable: bool = True, rejected: bool = False,
                 status: int | None = None) -> None:
        super().__init__(message)
        self.retryable = retryable and not rejected
        self.rejected = rejected
        self.status = status  # the HTTP status, when there was one


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


class _RefuseRedirects(urllib.request.HTTPRedirectHandler):
    """Turn every 3xx into an HTTPError: following it would re-send (or drop) the body and the bearer token
    to another URL, and a redirect answer never means the batch is durable."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):  # noqa: ANN001, ANN201, PLR0913
        return None


_OPENER = urllib.request.build_opener(_RefuseRedirects)

# The collector's default body limit (ingestion/collector/settings.py), before and after gzip.
COLLECTOR_MAX_BODY_BYTES = 10 * 1024 * 1024


def collector_events_url(url: str) -> str:
    """`<base>` or `<base>/v1/events`, with or without a trailing slash, as the one path the collector serves."""
    url = url.strip().rstrip("/")
    return url if url.endswith("/v1/events") else url + "/v1/events"


class HttpTransport:
    """POSTs each batch to the collector: `POST <url>` with a gzip JSON array and a bearer token; 2xx = durable.

    Redirects are never followed (a 3xx is a retryable failure: the batch is retried, then spilled). A batch
    whose JSON would exceed `max_body_bytes` (the collector's limit, default 10 MiB) goes out as several
    requests, and a batch the collector still answers 413 is halved until it fits. A record over the limit
    can never be sent: the others of its batch are, and the batch is then reported rejected.
    """

    # Statuses worth retrying: the collector or a proxy is overloaded or restarting.
    RETRYABLE_STATUS = frozenset({408, 425, 429, 500, 502, 503, 504})
    # Statuses that judge the batch itself: sending it again can never succeed.
    REJECTED_STATUS = frozenset({400, 413, 415, 422})

    def __init__(self, url: str, token: str, *, timeout: float = 10.0,
                 max_body_bytes: int = COLLECTOR_MAX_BODY_BYTES) -> None:
        self.url = collector_events_url(url)
        self.token = token
        self.timeout = timeout
        self.max_body_bytes = max_body_bytes

    def send(self, records: list[dict[str, Any]]) -> None:
        self.send_ndjson(ndjson(records), len(records))

    def send_ndjson(self, data: bytes, count: int) -> None:
        """POST one batch given as NDJSON, re-framed as the JSON array(s) the collector documents."""
        chunks, oversize = self._chunks(data.splitlines())
        for chunk in chunks:
            self._post_chunk(chunk)
        if oversize:  # the others went through; this batch is still refused (resending it is safe: dedupe)
            raise TransportError(f"{len(oversize)} record(s) of up to {max(oversize)} bytes are larger than the "
                                 f"collector's limit of {self.max_body_bytes} bytes", rejected=True)

    def _post_chunk(self, lines: list[bytes]) -> None:
        """POST lines as one JSON array; on a 413 (the collector's limit is lower than `max_body_bytes`),
        send each half separately, down to one record (which is then rejected)."""
        try:
            self._post(b"[" + b",".join(lines) + b"]", len(lines))
        except TransportError as exc:
            if exc.status != 413 or len(lines) < 2:
                raise
            half = len(lines) // 2
            self._post_chunk(lines[:half])
            self._post_chunk(lines[half:])

    def _chunks(self, lines: list[bytes]) -> tuple[list[list[bytes]], list[int]]:
        """Lines grouped so that each JSON array stays within the body limit (brackets and commas counted),
        and the sizes of the records that can never fit."""
        chunks: list[list[bytes]] = []
        oversize: list[int] = []
        current: list[bytes] = []
        size = 2
        for line in lines:
            if not line.strip():
                continue
            if len(line) + 2 > self.max_body_bytes:
                oversize.append(len(line))
                continue
            if current and size + len(line) + 1 > self.max_body_bytes:
                chunks.append(current)
                current, size = [], 2
            current.append(line)
            size += len(line) + 1
        if current:
            chunks.append(current)
        return chunks, oversize

    def _post(self, payload: bytes, count: int) -> None:
        body = gzip.compress(payload, compresslevel=5)
        request = urllib.request.Request(self.url, data=body, method="POST", headers={
            "Content-Type": "application/json", "Content-Encoding": "gzip",
            "Authorization": f"Bearer {self.token}"})
        try:
            with _OPENER.open(request, timeout=self.timeout) as response:
                response.read()
        except urllib.error.HTTPError as exc:
            if 300 <= exc.code < 400:
                location = exc.headers.get("Location", "?") if exc.headers else "?"
                raise TransportError(f"collector at {self.url} answered {exc.code} (redirect to {location}) for "
                                     f"{count} records; redirects are not followed: point the SDK at the final URL",
                                     retryable=True) from exc
            detail = exc.read(300).decode("utf-8", "replace")
            raise TransportError(f"collector answered {exc.code} for {count} records: {detail}",
                                 retryable=exc.code in self.RETRYABLE_STATUS,
                                 rejected=exc.code in self.REJECTED_STATUS, status=exc.code) from exc
        except (urllib.error.URLError, OSError, TimeoutError) as exc:
            raise TransportError(f"collector at {self.url} unreachable: {exc}") from exc
