"""Decompression and parsing off the event loop, so one large or hostile body never delays other requests.

The event loop only moves bytes. Every body is decompressed and parsed elsewhere:
- on a small thread pool: gzip (zlib releases the GIL while it inflates) and bodies up to `inline_parse_bytes`
  once decompressed; a pure-Python loop gives the GIL back every few milliseconds, and orjson's single call on
  such a body is short;
- in worker processes: larger bodies. orjson parses a whole body in one C call that holds the GIL (about 0.1 s
  per million tiny values here), and a 10 MiB body can hold 3.5 million, so a thread would still stall every
  other request; a process does not.

A worker process that dies (killed for memory, say) fails only the requests it held, with a 503 (retry), and
the pool is replaced.
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import os
import threading
import time
from concurrent.futures import Executor, ProcessPoolExecutor, ThreadPoolExecutor
from concurrent.futures.process import BrokenProcessPool

from ingestion.collector.payload import PayloadError, decode_body, parse_body

log = logging.getLogger("aiw.collector")


def _warm() -> None:
    """Run once in each new worker so the first large body does not pay for the process start."""


def _exit_with_parent(parent_pid: int) -> None:
    """Worker initializer: end this worker once the collector is gone, even after `kill -9`.

    A pool worker never sees end-of-file on its task queue (it holds a write end of that pipe itself), so
    without this an orphaned worker would wait forever.
    """

    def watch() -> None:
        while os.getppid() == parent_pid:
            time.sleep(0.5)
        os._exit(0)

    threading.Thread(target=watch, name="aiw-parent-watch", daemon=True).start()


class BodyProcessor:
    """Decodes and parses request bodies on threads and worker processes (see the module docstring)."""

    def __init__(self, *, max_body_bytes: int, max_gzip_members: int, max_records: int, inline_parse_bytes: int,
                 parse_workers: int) -> None:
        self.max_body_bytes = max_body_bytes
        self.max_gzip_members = max_gzip_members
        self.max_records = max_records
        self.inline_parse_bytes = inline_parse_bytes
        self.parse_workers = parse_workers
        self._threads = ThreadPoolExecutor(max_workers=2, thread_name_prefix="aiw-parse")
        self._processes: ProcessPoolExecutor | None = None

    def _process_pool(self) -> ProcessPoolExecutor:
        if self._processes is None:
            # spawn, not fork: the collector has threads (commit, parse) that a fork would copy mid-operation.
            self._processes = ProcessPoolExecutor(max_workers=self.parse_workers,
                                                  mp_context=multiprocessing.get_context("spawn"),
                                                  initializer=_exit_with_parent, initargs=(os.getpid(),))
        return self._processes

    async def start(self) -> None:
        """Start the worker processes now rather than on the first large body."""
        loop = asyncio.get_running_loop()
        pool = self._process_pool()
        await asyncio.gather(*(loop.run_in_executor(pool, _warm) for _ in range(self.parse_workers)))

    async def process(self, route: str, body: bytes, content_encoding: str | None,
                      content_type: str | None) -> tuple[bytes, int]:
        """(landing lines, count) for a body as received; PayloadError for what the collector refuses."""
        loop = asyncio.get_running_loop()
        encoding = (content_encoding or "").strip().lower()
        if encoding not in ("", "identity"):
            body = await loop.run_in_executor(self._threads, decode_body, body, content_encoding,
                                              self.max_body_bytes, self.max_gzip_members)
        executor: Executor = self._threads if len(body) <= self.inline_parse_bytes else self._process_pool()
        try:
            return await loop.run_in_executor(executor, parse_body, route, body, content_type, self.max_records)
        except BrokenProcessPool:
            log.error("a parse worker process died; replacing the pool (the requests it held get 503)")
            broken, self._processes = self._processes, None
            if broken is not None:
                broken.shutdown(wait=False, cancel_futures=True)
            raise PayloadError(503, "the collector's parse worker failed while handling this batch; nothing of "
                                    "it was stored, retry") from None

    def close(self) -> None:
        self._threads.shutdown(wait=True)
        if self._processes is not None:
            self._processes.shutdown(wait=True, cancel_futures=True)
