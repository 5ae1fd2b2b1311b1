"""Group commit: many concurrent requests share one write + fsync, and each is acknowledged after it.

An fsync costs about the same for 1 line as for 10,000, so fsyncing once per request caps throughput at
the disk's fsync rate. Instead, requests queue their lines; one flush at a time runs on a dedicated thread
and takes everything queued so far. While a flush runs, new requests gather for the next one. Under light
load a flush holds one request (no added latency); under heavy load one flush covers many requests.
"""

from __future__ import annotations

import asyncio
import logging
from concurrent.futures import ThreadPoolExecutor

from ingestion.collector.storage import LandingWriter

log = logging.getLogger("aiw.collector")


class GroupCommitter:
    """Serializes all file work of one `LandingWriter` on its own thread and batches concurrent appends."""

    def __init__(self, writer: LandingWriter, name: str) -> None:
        self.writer = writer
        self.name = name
        # One thread per writer: file operations never race, and fsync never blocks the event loop.
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"aiw-commit-{name}")
        self._pending: list[bytes] = []
        self._waiters: list[asyncio.Future[None]] = []
        self._flushing = False
        self._task: asyncio.Task[None] | None = None  # held so the running flush is not garbage-collected
        self.flushes = 0
        self.records = 0

    async def append(self, data: bytes, records: int) -> None:
        """Return once `data` is durable in a landing file; raise the write's OSError if it is not."""
        if not data:
            return
        loop = asyncio.get_running_loop()
        waiter: asyncio.Future[None] = loop.create_future()
        self._pending.append(data)
        self._waiters.append(waiter)
        self.records += records
        if not self._flushing:
            self._flushing = True
            self._task = loop.create_task(self._flush_all())
        # shield: a client that disconnects cancels its handler, but the batch is written regardless.
        await asyncio.shield(waiter)

    async def _flush_all(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            while self._pending:
                batch, waiters = self._pending, self._waiters
                self._pending, self._waiters = [], []
                try:
                    await loop.run_in_executor(self._executor, self.writer.append, b"".join(batch))
                except Exception as exc:  # noqa: BLE001 - every waiter must hear about the failure
                    log.error("writing %d request(s) to %s failed: %s", len(waiters), self.name, exc)
                    for waiter in waiters:
                        if not waiter.done():
                            waiter.set_exception(exc)
                else:
                    self.flushes += 1
                    for waiter in waiters:
                        if not waiter.done():
                            waiter.set_result(None)
        finally:
            self._flushing = False

    async def rotate_if_due(self) -> None:
        """Finalize the open file if it is old or big enough (run between flushes, on the writer's thread)."""
        await asyncio.get_running_loop().run_in_executor(self._executor, self.writer.rotate_if_due)

    async def close(self) -> None:
        """Wait for queued appends, finalize the open file and stop the thread."""
        while self._flushing or self._pending:
            await asyncio.sleep(0.005)
        await asyncio.get_running_loop().run_in_executor(self._executor, self.writer.close)
        self._executor.shutdown(wait=True)
