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
from collections.abc import Callable, Iterator
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


def otlp_mapper(options: otlp.OtlpOptions | None = None) -> Mapper:
    """Mapper for OTLP JSON lines: one TracesData object -> one entry per span."""
    opts = options or otlp.OtlpOptions.from_env()

    def mapper(obj: Any) -> list[dict[str, Any] | None] | None:
        return otlp.traces_to_records(obj, opts) if otlp.is_traces_data(obj) else None

    return mapper


def posthog_mapper(options: posthog.PosthogOptions | None = None) -> Mapper:
    """Mapper for PostHog export lines: one event -> one entry."""
    opts = options or posthog.PosthogOptions.from_env()

    def mapper(obj: Any) -> list[dict[str, Any] | None] | None:
        return [posthog.event_to_record(obj, opts)] if posthog.is_event(obj) else None

    return mapper


def mapper_for(source: str) -> Mapper:
    """The mapper of an adapted landing source (options read from the environment)."""
    if source == "otlp":
        return otlp_mapper()
    if source == "posthog":
        return posthog_mapper()
    raise ValueError(f"no adapter for landing source {source!r}; adapted sources are {ADAPTED_SOURCES}")


_NOT_JSON = object()


def _source_items(data: bytes, may_be_document: bool) -> Iterator[tuple[int, Any, bytes | None]]:
    """(line number, parsed value or _NOT_JSON, raw bytes) per line; a `.json` file may instead be one
    document: a single object (an OTLP/HTTP request body saved as-is) or an array of them (raw is None)."""
    if may_be_document:
        try:
            doc = orjson.loads(data)
        except orjson.JSONDecodeError:
            doc = _NOT_JSON
        if isinstance(doc, list):
            for pos, item in enumerate(doc, start=1):
                yield pos, item, None
            return
        if isinstance(doc, dict):
            yield 1, doc, None
            return
    loads = orjson.loads
    pieces = data.split(b"\n")
    if pieces and not pieces[-1]:
        pieces.pop()  # the newline that ends the last line does not start another one
    for number, raw in enumerate(pieces, start=1):
        if not raw or raw.isspace():
            yield number, None, raw
            continue
        try:
            yield number, loads(raw), raw
        except orjson.JSONDecodeError:
            yield number, _NOT_JSON, raw


@dataclass
class AdaptedFile:
    """An adapted landing file: iterate for Arrow batches; `counts` is complete once iteration ends."""

    path: Path
    mapper: Mapper
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

    def _batches(self) -> Iterator[pa.Table]:
        name = self.path.name
        opener = gzip.open if name.endswith(".gz") else open
        with opener(self.path, "rb") as fh:
            data = fh.read()
        base = name[:-3] if name.endswith(".gz") else name
        counts, mapper, dumps = self.counts, self.mapper, orjson.dumps
        line_nos: list[int] = []
        record_nos: list[int] = []
        lines: list[bytes] = []
        for number, value, raw in _source_items(data, base.endswith(".json")):
            if raw is not None and (not raw or raw.isspace()):
                counts.blank_lines += 1
                continue
            counts.source_lines += 1
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
                counts.records += 1
            else:
                for ordinal, record in enumerate(records, start=1):
                    counts.records += 1
                    if record is None:
                        counts.skipped += 1
                        continue
                    line_nos.append(number)
                    record_nos.append(ordinal)
                    lines.append(dumps(record))
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
    return AdaptedFile(path, mapper_for(source), batch_records)
