"""Landing files of foreign formats -> batches of canonical JSON lines for the loader.

The loader validates and scrubs lines with the contract's SQL (`ingestion.contract_sql`); this module
feeds it: for an OTLP or PostHog landing file it yields Arrow tables `(line_no, record_no, line)` where
`line` is one canonical record as JSON, `line_no` the source line it came from (its position for a
JSON-array file) and `record_no` its ordinal inside that line (the span's position in an OTLP line;
always 1 for PostHog). Records that are not model calls or AI events are not yielded but counted.

Source lines that are not the format at all are still passed on, scrubbed, so the contract quarantines
them with their file and line instead of losing them: text that is not JSON as it is (`malformed_json`),
JSON that is not a TracesData object / PostHog event as a JSON string (`not_an_object`).
"""

from __future__ import annotations

import gc
import gzip
import multiprocessing
import os
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
import pyarrow as pa

from ingestion.adapters import otlp, posthog
from ingestion.pii import scrub

ADAPTED_SOURCES = ("otlp", "posthog")

# Records per Arrow batch handed to DuckDB: big enough to amortise the SQL, small enough for flat memory.
BATCH_RECORDS = 100_000

# One parsed source object -> its records in order (None for each skipped one), or None: not this format.
Mapper = Callable[[Any], "list[dict[str, Any] | None] | None"]

SCHEMA = pa.schema([("line_no", pa.int64()), ("record_no", pa.int32()), ("line", pa.string())])


@dataclass
class ReadCounts:
    """What reading one file found; `records` is what the manifest calls lines for these sources."""

    records: int = 0  # records read: every one yielded plus every one skipped
    skipped: int = 0  # not model calls / not AI events
    blank_lines: int = 0
    source_lines: int = 0  # non-blank physical lines (or array elements) read


Options = Any  # otlp.OtlpOptions | posthog.PosthogOptions


def options_for(source: str) -> Options:
    """The adapter options of a landing source, read from the environment (see docs/adapters.md)."""
    if source == "otlp":
        return otlp.OtlpOptions.from_env()
    if source == "posthog":
        return posthog.PosthogOptions.from_env()
    raise ValueError(f"no adapter for landing source {source!r}; adapted sources are {ADAPTED_SOURCES}")


def mapper_for(source: str, options: Options | None = None) -> Mapper:
    """The mapper of an adapted landing source: one parsed source object -> its records, None if not the format."""
    opts = options if options is not None else options_for(source)
    if source == "otlp":
        def otlp_mapper(obj: Any) -> list[dict[str, Any] | None] | None:
            return otlp.traces_to_records(obj, opts) if otlp.is_traces_data(obj) else None
        return otlp_mapper

    def posthog_mapper(obj: Any) -> list[dict[str, Any] | None] | None:
        return [posthog.event_to_record(obj, opts)] if posthog.is_event(obj) else None
    return posthog_mapper


_NOT_JSON = object()

# Files bigger than this are mapped by a pool of worker processes (the work is pure Python, one core each),
# in chunks of about CHUNK_BYTES cut at line ends. AIW_ADAPTER_WORKERS overrides the pool size (1: no pool).
PARALLEL_MIN_BYTES = 16 << 20
CHUNK_BYTES = 4 << 20


def _document_items(data: bytes) -> list[tuple[int, Any, bytes | None]] | None:
    """A `.json` file holding one document: a single object (an OTLP/HTTP request body saved as-is) or an
    array of them, as (position, value, None) items; None when the file is not one JSON document."""
    try:
        doc = orjson.loads(data)
    except orjson.JSONDecodeError:
        return None
    if isinstance(doc, list):
        return [(pos, item, None) for pos, item in enumerate(doc, start=1)]
    if isinstance(doc, dict):
        return [(1, doc, None)]
    return None


def _line_items(chunk: bytes, first_line_no: int) -> Iterator[tuple[int, Any, bytes | None]]:
    """(line number, parsed value or _NOT_JSON, raw bytes) per line of a chunk of whole lines."""
    loads = orjson.loads
    pieces = chunk.split(b"\n")
    if pieces and not pieces[-1]:
        pieces.pop()  # the newline that ends the last line does not start another one
    for number, raw in enumerate(pieces, start=first_line_no):
        if not raw or raw.isspace():
            yield number, None, raw
            continue
        try:
            yield number, loads(raw), raw
        except orjson.JSONDecodeError:
            yield number, _NOT_JSON, raw


# A mapped chunk: line numbers, record ordinals, canonical lines, and counts (blank, source lines, records, skipped).
Mapped = tuple[list[int], list[int], list[bytes], tuple[int, int, int, int]]


def _map_items(items: Iterator[tuple[int, Any, bytes | None]] | list[tuple[int, Any, bytes | None]],
               mapper: Mapper) -> Mapped:
    dumps = orjson.dumps
    line_nos: list[int] = []
    record_nos: list[int] = []
    lines: list[bytes] = []
    blank = source_lines = records_read = skipped = 0
    for number, value, raw in items:
        if raw is not None and (not raw or raw.isspace()):
            blank += 1
            continue
        source_lines += 1
        records = None
        if value is not _NOT_JSON:
            try:
                records = mapper(value)
            except Exception:  # noqa: BLE001 - a hostile line must not stop the load; it is quarantined
                records = None
        if records is None:
            # Not the format: hand it on scrubbed so the contract quarantines it with file and line.
            text = scrub((raw or dumps(value)).decode("utf-8", "replace"))
            line_nos.append(number)
            record_nos.append(1)
            lines.append(text.encode() if value is _NOT_JSON else dumps(text))
            records_read += 1
            continue
        for ordinal, record in enumerate(records, start=1):
            records_read += 1
            if record is None:
                skipped += 1
                continue
            line_nos.append(number)
            record_nos.append(ordinal)
            lines.append(dumps(record))
    return line_nos, record_nos, lines, (blank, source_lines, records_read, skipped)


def _map_chunk(source: str, options: Options, chunk: bytes, first_line_no: int) -> Mapped:
    """Map one chunk of whole lines (runs in a worker process for big files)."""
    return _map_items(_line_items(chunk, first_line_no), mapper_for(source, options))


def _chunks(data: bytes, size: int) -> Iterator[tuple[bytes, int]]:
    """(chunk of whole lines, its first line number) of about `size` bytes each."""
    pos, line_no = 0, 1
    while pos < len(data):
        end = data.find(b"\n", pos + size)
        end = len(data) if end < 0 else end + 1
        chunk = data[pos:end]
        yield chunk, line_no
        line_no += chunk.count(b"\n")
        pos = end


def workers() -> int:
    """Worker processes for mapping big files: AIW_ADAPTER_WORKERS, else one per CPU."""
    raw = os.environ.get("AIW_ADAPTER_WORKERS", "")
    return max(1, int(raw)) if raw.strip().isdigit() else max(1, os.cpu_count() or 1)


@dataclass
class AdaptedFile:
    """An adapted landing file: iterate for Arrow batches; `counts` is complete once iteration ends."""

    path: Path
    source: str
    options: Options = None
    batch_records: int = BATCH_RECORDS
    counts: ReadCounts = field(default_factory=ReadCounts)

    def __iter__(self) -> Iterator[pa.Table]:
        # Parsed JSON holds no reference cycles, but the millions of short-lived dicts would trigger the
        # cycle collector over and over; pausing it roughly halves the time per record.
        was_enabled = gc.isenabled()
        gc.disable()
        try:
            yield from self._batches()
        finally:
            if was_enabled:
                gc.enable()

    def _mapped(self, data: bytes, is_json_name: bool) -> Iterator[Mapped]:
        options = self.options if self.options is not None else options_for(self.source)
        doc = _document_items(data) if is_json_name else None
        if doc is not None:
            yield _map_items(doc, mapper_for(self.source, options))
            return
        pool_size = workers()
        if pool_size < 2 or len(data) < PARALLEL_MIN_BYTES:
            for chunk, first in _chunks(data, CHUNK_BYTES):
                yield _map_chunk(self.source, options, chunk, first)
            return
        # forkserver: workers never inherit the loader's DuckDB threads or locks.
        context = multiprocessing.get_context("forkserver")
        context.set_forkserver_preload(["ingestion.adapters.reader"])
        with ProcessPoolExecutor(max_workers=pool_size, mp_context=context, initializer=gc.disable) as pool:
            pending = [pool.submit(_map_chunk, self.source, options, chunk, first)
                       for chunk, first in _chunks(data, CHUNK_BYTES)]
            del data
            for future in pending:
                yield future.result()

    def _batches(self) -> Iterator[pa.Table]:
        name = self.path.name
        opener = gzip.open if name.endswith(".gz") else open
        with opener(self.path, "rb") as fh:
            data = fh.read()
        base = name[:-3] if name.endswith(".gz") else name
        counts = self.counts
        line_nos: list[int] = []
        record_nos: list[int] = []
        lines: list[bytes] = []
        for chunk_lines, chunk_records, chunk_out, (blank, source_lines, records, skipped) in self._mapped(
                data, base.endswith(".json")):
            counts.blank_lines += blank
            counts.source_lines += source_lines
            counts.records += records
            counts.skipped += skipped
            line_nos += chunk_lines
            record_nos += chunk_records
            lines += chunk_out
            if len(lines) >= self.batch_records:
                yield _table(line_nos, record_nos, lines)
                line_nos, record_nos, lines = [], [], []
        if lines:
            yield _table(line_nos, record_nos, lines)


def _table(line_nos: list[int], record_nos: list[int], lines: list[bytes]) -> pa.Table:
    return pa.Table.from_arrays(
        [pa.array(line_nos, pa.int64()), pa.array(record_nos, pa.int32()),
         pa.array(lines, pa.binary()).cast(pa.string())], schema=SCHEMA)


def adapt_file(path: Path, source: str, batch_records: int = BATCH_RECORDS) -> AdaptedFile:
    """Read an OTLP or PostHog landing file lazily as canonical-line batches (see the module docstring)."""
    if source not in ADAPTED_SOURCES:
        raise ValueError(f"no adapter for landing source {source!r}; adapted sources are {ADAPTED_SOURCES}")
    return AdaptedFile(path, source, options_for(source), batch_records)
