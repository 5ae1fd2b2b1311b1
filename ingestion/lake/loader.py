"""The lake writer: pending landing files -> validated Parquet (raw), quarantine and a load manifest.

Guarantees (README, "Guarantees"):
- each byte of a landing file is loaded exactly once: the manifest records, per load and file, the byte
  range read ([start_offset, size_bytes): a JSON-lines file that grew by whole lines is read again from
  where the last load stopped), the sha256 of the file's bytes below size_bytes (so a grown file is told
  from a rewritten one) and the counts; a file that cannot be read or whose loaded bytes changed is a
  manifest row with status 'rejected' and the reason, and the other files load;
- one writer at a time: a load holds the AIW_HOME writer lock (`ingestion.lake.writer_lock`);
- per file, lines = accepted + quarantined + exact duplicates dropped + skipped (blank lines aside), where
  "lines" counts records read: for native files one per non-blank line (or JSON-array element); for
  otlp files one per span (plus one per source line that is not a TracesData object); for posthog files
  one per exported event; for litellm and langfuse files one per payload or observation. `skipped` counts
  spans, payloads and observations that are not model calls and events that are not AI events (only the
  adapters skip; a native line is never skipped);
- an exact duplicate (same event_id, same content) is dropped and counted, whether its twin is in
  the same load or any earlier one (whatever its event date); a conflicting duplicate (same id, other
  content) is quarantined: the first accepted copy wins (within a load: by file path, line, record);
- crash safety: a load writes its Parquet under a load id and commits by writing its manifest
  last (atomically); outputs of a load without a manifest are orphans and are removed before the
  next load, so a re-run redoes the work and nothing is doubled.

Every file is read by DuckDB, from a copy of the bytes the load reads under a name of our own (a landing
name is data: DuckDB would expand `*`, `?` and `[...]` in it). A line DuckDB cannot read (not UTF-8, too
long) is quarantined with its own rule after a second, line-by-line pass over that file only. OTLP and
PostHog lines first go through the adapters' SQL (`ingestion.adapters`), which maps them to canonical JSON
lines; from there every source takes the same SQL path. One source line can hold several records (an OTLP
line holds many spans): rows carry `record_number`, the record's ordinal in its line, beside `line_number`.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import hashlib
import json
import os
import shutil
import time
import uuid
import zlib
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import duckdb

from ingestion.adapters.reader import ADAPTED_SOURCES, adapted_relation
from ingestion.contract import pii
from ingestion.contract import schema as c
from ingestion.contract.pii import scrub_sql
from ingestion.contract.staging_sql import all_fields, staged_select
from ingestion.lake import landing
from ingestion.lake.landing import (
    ChangedFile,
    LandingFile,
    Segment,
    UnreadableFile,
    copy_segment,
    discover,
    lines_sql,
    load_date_window,
    quiet_seconds,
    starts_with_array,
)
from ingestion.lake.writer_lock import writer_lock
from ingestion.layout import SOURCES, Layout
from ingestion.settings import duckdb_memory_limit
from ingestion.sql import quote, quote_path

NATIVE_SOURCES = ("native",)
ALL_SOURCES = SOURCES


INTERACTION_COLUMNS = [f.name for f in c.INTERACTION_FIELDS]
FEEDBACK_COLUMNS = [f.name for f in c.FEEDBACK_FIELDS]
LINEAGE_COLUMNS = ["source", "source_file", "line_number", "record_number", "load_id", "load_date", "loaded_at"]


class LoadError(RuntimeError):
    """A landing file could not be read at all; nothing of the load was committed."""


@dataclass
class FileResult:
    """What one landing file contributed to a load (one manifest row)."""

    source: str
    relative_path: str
    load_date: str
    size_bytes: int
    sha256: str
    lines: int = 0
    blank_lines: int = 0
    accepted: int = 0
    feedback_accepted: int = 0
    quarantined: int = 0
    duplicates: int = 0
    skipped: int = 0  # adapters only: spans that are not model calls, events that are not AI events
    status: str = "loaded"  # or "rejected": the file (or its new bytes) could not be loaded; see reason
    reason: str = ""
    start_offset: int = 0  # this load read the file's bytes [start_offset, size_bytes)
    file_size: int = 0  # the file's size and mtime when read (size_bytes stops at the last whole line)
    mtime_ns: int = 0

    @property
    def reconciles(self) -> bool:
        return self.lines == (self.accepted + self.feedback_accepted + self.quarantined + self.duplicates
                              + self.skipped)


@dataclass(frozen=True)
class LoadCounts:
    """What one or more loads did, in numbers: the figures `aiw run` prints and the lake asset records.

    The lake asset hands them to Dagster as materialization metadata (`as_metadata`, one entry per field)
    and `aiw run`, which drives that asset, reads them back with `from_metadata`: the field names are the
    only keys, so neither side spells one.
    """

    files_loaded: int = 0
    files_rejected: int = 0
    lines: int = 0
    accepted: int = 0  # interaction rows
    feedback_accepted: int = 0
    quarantined: int = 0
    duplicates_dropped: int = 0
    skipped: int = 0

    @classmethod
    def of(cls, files: list[FileResult], files_rejected: int = 0) -> LoadCounts:
        return cls(files_loaded=len(files), files_rejected=files_rejected,
                   lines=sum(f.lines for f in files), accepted=sum(f.accepted for f in files),
                   feedback_accepted=sum(f.feedback_accepted for f in files),
                   quarantined=sum(f.quarantined for f in files), duplicates_dropped=sum(f.duplicates for f in files),
                   skipped=sum(f.skipped for f in files))

    def as_metadata(self) -> dict[str, int]:
        return dataclasses.asdict(self)

    @classmethod
    def from_metadata(cls, metadata: Mapping[str, object]) -> LoadCounts:
        """The counts in a lake materialization's metadata (values plain or Dagster metadata values)."""
        return cls(**{f.name: int(getattr(metadata[f.name], "value", metadata[f.name]) or 0)
                      for f in dataclasses.fields(cls) if f.name in metadata})

    def __add__(self, other: LoadCounts) -> LoadCounts:
        return LoadCounts(**{f.name: getattr(self, f.name) + getattr(other, f.name) for f in dataclasses.fields(self)})


@dataclass
class LoadResult:
    """The outcome of loading one load date's pending files."""

    load_date: str
    load_id: str | None = None
    files: list[FileResult] = field(default_factory=list)
    rule_counts: Counter[str] = field(default_factory=Counter)
    examples: list[dict[str, object]] = field(default_factory=list)  # first quarantined rows: file, line, rule
    rejected: list[FileResult] = field(default_factory=list)  # files recorded as rejected, with the reason
    settling: list[str] = field(default_factory=list)  # written within the quiet period: left for a later load
    seconds: float = 0.0

    def problems(self, limit: int = 20) -> list[str]:
        """One line per problem a person should act on: file, line, rule and what to do."""
        out = [f"{f.relative_path}: rejected: {f.reason}; {what_to_do(f.reason)}" for f in self.rejected]
        for ex in self.examples[:limit]:
            where = f"{ex['file']}:{ex['line']}" + ("" if ex.get("record") in (None, 1) else f"#{ex['record']}")
            out.append(f"{where} {ex['rule']}: quarantined; fix the producer (the row is kept in lake/quarantine)")
        if self.quarantined > min(limit, len(self.examples)):
            out.append(f"... and {self.quarantined - min(limit, len(self.examples))} more quarantined row(s): "
                       "aiw sql \"select source_file, line_number, rule from lake_quarantine\"")
        return out

    def total(self, attr: str) -> int:
        return sum(getattr(f, attr) for f in self.files)

    @property
    def lines(self) -> int:
        return self.total("lines")

    @property
    def accepted(self) -> int:
        return self.total("accepted") + self.total("feedback_accepted")

    @property
    def quarantined(self) -> int:
        return self.total("quarantined")

    @property
    def duplicates(self) -> int:
        return self.total("duplicates")

    @property
    def skipped(self) -> int:
        return self.total("skipped")


def connect(layout: Layout, memory_limit: str | None = None) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB for lake work, bounded in memory (well under the 2 GB budget: `ingestion.settings`)
    and spilling under AIW_HOME/tmp."""
    con = duckdb.connect(config={"memory_limit": memory_limit or duckdb_memory_limit(),
                                 "temp_directory": str(layout.tmp / "duckdb")})
    con.execute("set preserve_insertion_order = false")
    # The adapters read times written without an offset as UTC (docs/adapters.md).
    con.execute("set TimeZone = 'UTC'")
    # The contract's SQL replaces ids holding PII by a hash keyed with this AIW_HOME's key (ingestion.contract.pii).
    pii.set_key(con, pii.load_key(layout.home))
    return con


def _parquet_has_files(directory: Path) -> bool:
    return directory.exists() and any(directory.rglob("*.parquet"))


def manifest_history(layout: Layout) -> dict[str, list[dict[str, object]]]:
    """relative_path -> its manifest rows (one per load that read or rejected it), oldest first."""
    if not _parquet_has_files(layout.manifest):
        return {}
    con = duckdb.connect()
    # union_by_name: manifests written before a column was added (skipped, status, offsets) still read.
    rel = con.execute(f"select * from read_parquet({quote_path(layout.manifest / '*.parquet')}, union_by_name = true) "
                      "order by loaded_at, load_id")
    names = [d[0] for d in rel.description]
    rows = rel.fetchall()
    con.close()
    history: dict[str, list[dict[str, object]]] = {}
    for r in rows:
        row = dict(zip(names, r, strict=False))
        row["status"] = row.get("status") or "loaded"
        history.setdefault(str(row["relative_path"]), []).append(row)
    return history


def read_manifest(layout: Layout) -> dict[str, dict[str, object]]:
    """relative_path -> the manifest row of the load that read the file furthest (rejections aside)."""
    out = {}
    for rel, rows in manifest_history(layout).items():
        loaded = [r for r in rows if r["status"] != "rejected"]
        if loaded:
            out[rel] = max(loaded, key=lambda r: int(r["size_bytes"] or 0))
    return out


def committed_load_ids(layout: Layout) -> set[str]:
    return {p.stem for p in layout.manifest.glob("*.parquet")}


def remove_orphans(layout: Layout) -> list[Path]:
    """Delete lake files of loads that never committed (a crash between writing data and manifest).

    Callers hold the writer lock, so no load is in progress: every uncommitted file is an orphan.
    """
    committed = committed_load_ids(layout)
    removed: list[Path] = []
    for directory in (layout.raw_interactions, layout.raw_feedback, layout.quarantine, layout.event_index):
        if not directory.exists():
            continue
        for path in directory.rglob("*.parquet"):
            load_id = path.stem.split("__")[0]
            if load_id not in committed:
                path.unlink()
                removed.append(path)
    shutil.rmtree(layout.tmp / "segments", ignore_errors=True)
    return removed


@dataclass(frozen=True)
class _Resume:
    """Where a new load of a landing file starts: after the bytes already loaded (0 and None: never loaded)."""

    start_offset: int = 0
    prefix_sha256: str | None = None


def _resume_point(f: LandingFile, rows: list[dict[str, object]], size: int, mtime_ns: int) -> _Resume | None:
    """Where to resume `f`, or None when there is nothing to do (unchanged, or a known rejection)."""
    for r in rows:
        if r["status"] == "rejected" and r.get("file_size") == size and r.get("mtime_ns") == mtime_ns:
            return None  # rejected as it is now: reported when it was recorded, retried when it changes
    loaded = [r for r in rows if r["status"] != "rejected"]
    if not loaded:
        return _Resume()
    last = max(loaded, key=lambda r: int(r["size_bytes"] or 0))
    seen_size = last.get("file_size") or last["size_bytes"]
    seen_mtime = last.get("mtime_ns")
    if size == seen_size and (seen_mtime is None or seen_mtime == mtime_ns):
        return None
    return _Resume(int(last["size_bytes"] or 0), str(last["sha256"]))


def in_window(f: LandingFile, now: dt.datetime | None = None) -> bool:
    first, last = load_date_window(now or dt.datetime.now(dt.UTC))
    return first.isoformat() <= f.load_date <= last.isoformat()


def _now(now_ms: int | None) -> dt.datetime:
    return dt.datetime.fromtimestamp(now_ms / 1000, tz=dt.UTC) if now_ms is not None else dt.datetime.now(dt.UTC)


def pending_files(layout: Layout, sources: tuple[str, ...] = ALL_SOURCES, load_date: str | None = None, *,
                  now_ms: int | None = None, history: dict[str, list[dict[str, object]]] | None = None,
                  ) -> tuple[list[LandingFile], list[str]]:
    """Landing files with bytes to load (new, grown or changed since their last load), and the files left
    for later because they were written within the quiet period (relative paths).

    Files whose path date is outside the load-date window are not pending: `reject_out_of_window()`
    records them. Whether a changed file grew by whole lines or was rewritten is decided when it is read.
    """
    history = manifest_history(layout) if history is None else history
    now = _now(now_ms)
    quiet_before = time.time() - quiet_seconds()
    pending, settling = [], []
    for f in discover(layout, sources):
        if (load_date is not None and f.load_date != load_date) or not in_window(f, now):
            continue
        st = f.path.stat()
        if _resume_point(f, history.get(f.relative_path, []), st.st_size, st.st_mtime_ns) is None:
            continue
        if st.st_mtime > quiet_before:
            settling.append(f.relative_path)
        else:
            pending.append(f)
    return pending, settling


def pending_load_dates(layout: Layout, sources: tuple[str, ...] = ALL_SOURCES, *,
                       now_ms: int | None = None) -> list[str]:
    return sorted({f.load_date for f in pending_files(layout, sources, now_ms=now_ms)[0]})


def wait_for_quiet(layout: Layout, sources: tuple[str, ...] = ALL_SOURCES,
                   say: Callable[[str], None] | None = None) -> None:
    """Wait (at most one quiet period) for files written just now to settle, so a run started right after a
    producer finished (`aiw generate && aiw run`) loads them instead of leaving them for the next run."""
    quiet = quiet_seconds()
    settling = pending_files(layout, sources)[1]
    if not settling or quiet <= 0:
        return
    if say is not None:
        say(f"waiting up to {quiet:g}s for {len(settling)} landing file(s) written just now to settle")
    newest = max((layout.landing / rel).stat().st_mtime for rel in settling)
    time.sleep(max(0.0, min(quiet, newest + quiet - time.time())) + 0.05)


def out_of_window_files(layout: Layout, sources: tuple[str, ...] = ALL_SOURCES, *,
                        now_ms: int | None = None) -> list[LandingFile]:
    """Landing files whose path date is outside the load-date window and not yet recorded as rejected."""
    now = _now(now_ms)
    history = manifest_history(layout)
    out = []
    for f in discover(layout, sources):
        if in_window(f, now):
            continue
        st = f.path.stat()
        if _resume_point(f, history.get(f.relative_path, []), st.st_size, st.st_mtime_ns) is not None:
            out.append(f)
    return out


def reject_out_of_window(layout: Layout, sources: tuple[str, ...] = ALL_SOURCES, *,
                         now_ms: int | None = None) -> list[FileResult]:
    """Record landing files whose path date is outside the load-date window as rejected, once each.

    Such a date has no partition to load into; before this, one such file stopped every load.
    """
    now = _now(now_ms)
    first, last = load_date_window(now)
    with writer_lock(layout.home, "recording rejected landing files"):
        rejected = []
        for f in out_of_window_files(layout, sources, now_ms=now_ms):
            st = f.path.stat()
            rejected.append(FileResult(
                f.source, f.relative_path, f.load_date, 0, "", status="rejected", file_size=st.st_size,
                mtime_ns=st.st_mtime_ns,
                reason=f"path date {f.load_date} is outside the load-date window {first} to {last}"))
        if rejected:
            loaded_at = now.replace(tzinfo=None)
            digest = hashlib.sha256("".join(f.relative_path for f in rejected).encode()).hexdigest()[:10]
            load_id = f"rejected-{loaded_at:%Y%m%dT%H%M%S}-{digest}"
            _commit_manifest(layout, load_id, "", loaded_at, LoadResult(load_date="", rejected=rejected))
    return rejected


@contextlib.contextmanager
def _line_relation(con: duckdb.DuckDBPyConnection, f: LandingFile, idx: int, line_offset: int = 0,
                   numbered: bool = False, longest_line: int | None = None) -> Iterator[str]:
    """The SQL relation (file_idx, line_no, record_no, is_skipped, line) of one landing file.

    Adapted sources (OTLP, PostHog) come mapped to canonical lines, with a row per skipped record
    (`is_skipped`, no line) so that the loader counts it; a native line is never skipped. `numbered`: the
    file is a numbered copy (`landing.copy_segment`).
    """
    if f.source not in ADAPTED_SOURCES:
        yield (f"(select file_idx, line_no + {int(line_offset)} as line_no, record_no, is_skipped, line "
               f"from {_native_relation(con, f, idx, numbered, longest_line)})")
        return
    name = f"document_{idx}"  # registered only when the file is one JSON document read in Python
    try:
        yield (f"(select {idx} as file_idx, line_no + {int(line_offset)} as line_no, record_no, is_skipped, line "
               f"from {adapted_relation(con, f.path, f.source, name)})")
    finally:
        with contextlib.suppress(duckdb.Error):
            con.unregister(name)


def _native_relation(con: duckdb.DuckDBPyConnection, f: LandingFile, idx: int, numbered: bool = False,
                     longest_line: int | None = None) -> str:
    """SQL relation (file_idx, line_no, record_no, line) for one native landing file."""
    if numbered:
        return (f"(select {idx} as file_idx, line_no, 1 as record_no, false as is_skipped, line "
                f"from {lines_sql(f.path, numbered=True, longest_line=longest_line)})")
    if f.path.name.endswith((".json", ".json.gz")) and starts_with_array(f.path):
        # A JSON array: one record per element, numbered by position (1-based) instead of line.
        import gzip

        opener = gzip.open if f.is_gzip else open
        try:
            with opener(f.path, "rt", encoding="utf-8") as fh:
                items = json.load(fh)
            lines = [json.dumps(x) for x in items] if isinstance(items, list) else [json.dumps(items)]
        except (ValueError, UnicodeDecodeError):
            with opener(f.path, "rt", encoding="utf-8", errors="replace") as fh:
                lines = [fh.read()]  # the whole file is one malformed record
        table = f"array_lines_{idx}"
        con.execute(f"create or replace temp table {table} (line_no bigint, line varchar)")
        con.executemany(f"insert into {table} values (?, ?)", list(enumerate(lines, start=1)))
        return f"(select {idx} as file_idx, line_no, 1 as record_no, false as is_skipped, line from {table})"
    return f"(select {idx} as file_idx, line_no, 1 as record_no, false as is_skipped, line from {lines_sql(f.path)})"


# Fields added after the content hash was first defined join it only when a record has them (concat_ws
# skips NULLs): a record without them hashes as it did before they existed, so a 1.0 or 1.1 line landed
# again after an upgrade is still an exact duplicate of its first copy, not a conflicting one.
HASHED_WHEN_PRESENT_SINCE = "1.2"


def _content_hash_sql(fields: tuple[c.Field, ...]) -> str:
    parts = []
    for f in fields:
        if c.version_key(f.since) >= c.version_key(HASHED_WHEN_PRESENT_SINCE):
            parts.append(f"case when {f.name} is not null then {quote(f.name + '=')} || cast({f.name} as varchar) end")
        else:
            parts.append(f"coalesce(cast({f.name} as varchar), '\\N')")
    return f"md5(concat_ws(chr(31), {', '.join(parts)}))"


def load_partition(layout: Layout, load_date: str, *, now_ms: int | None = None,
                   sources: tuple[str, ...] = ALL_SOURCES,
                   progress: Callable[[str], None] | None = None) -> LoadResult:
    """Load every pending landing file (or the new bytes of a grown one) whose load date is `load_date`.

    Idempotent, and one writer at a time: the AIW_HOME writer lock is held throughout (waiting for it if
    another process holds it), so the orphan clean-up below can never remove the outputs of a load in
    progress. A file that cannot be read, or whose loaded bytes changed, is recorded as rejected with the
    reason; the other files load.
    """
    say = progress or (lambda _msg: None)
    with writer_lock(layout.home, f"lake load of {load_date}", say=say):
        return _load_partition(layout, load_date, now_ms=now_ms, sources=sources, say=say)


def _load_partition(layout: Layout, load_date: str, *, now_ms: int | None, sources: tuple[str, ...],
                    say: Callable[[str], None]) -> LoadResult:
    started = time.perf_counter()
    layout.ensure()
    removed = remove_orphans(layout)
    if removed:
        say(f"removed {len(removed)} orphaned lake file(s) of an interrupted load")
    history = manifest_history(layout)
    candidates, settling = pending_files(layout, sources, load_date, now_ms=now_ms, history=history)
    result = LoadResult(load_date=load_date, settling=settling)
    for rel in settling:
        say(f"{rel} was written less than {quiet_seconds():g}s ago; it is loaded once it has settled")
    if not candidates:
        result.seconds = time.perf_counter() - started
        return result

    now_ms = now_ms if now_ms is not None else int(time.time() * 1000)
    loaded_at = dt.datetime.fromtimestamp(now_ms / 1000, tz=dt.UTC).replace(tzinfo=None)
    scratch = layout.tmp / "segments" / uuid.uuid4().hex
    scratch.mkdir(parents=True)
    try:
        # Each file's new bytes are copied to a name of our own first: DuckDB reads a fixed length, and a
        # landing name is data, never a pattern (DuckDB expands *, ? and [...] even in a list of paths).
        # Native JSON-lines copies are numbered line by line, so DuckDB stages them on every core.
        files: list[LandingFile] = []
        segments: list[Segment] = []
        for f in candidates:
            st = f.path.stat()
            resume = _resume_point(f, history.get(f.relative_path, []), st.st_size, st.st_mtime_ns) or _Resume()
            try:
                seg = copy_segment(f, scratch / f"{len(files)}{f.suffix}", resume.start_offset, resume.prefix_sha256,
                                   numbered=f.source in NATIVE_SOURCES)
            except ChangedFile as exc:
                result.rejected.append(_rejection(f, str(exc)))
                continue
            if seg.is_empty:
                continue  # touched, or only a line still being written was added
            files.append(f)
            segments.append(seg)
        digest_of = [s.sha256 for s in segments] + [f.relative_path + f.reason for f in result.rejected]
        batch_digest = hashlib.sha256("".join(digest_of).encode()).hexdigest()[:10]
        load_id = f"{load_date}T{loaded_at:%H%M%S}-{batch_digest}"
        if files:
            _load_segments(layout, result, files, segments, load_id, load_date, loaded_at, now_ms, say)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    if result.files or result.rejected:
        result.load_id = load_id
        _commit_manifest(layout, load_id, load_date, loaded_at, result)
    for f in result.rejected:
        say(f"{f.relative_path}: rejected: {f.reason}")
    result.seconds = time.perf_counter() - started
    return result


def _rejection(f: LandingFile, reason: str) -> FileResult:
    st = f.path.stat()
    return FileResult(f.source, f.relative_path, f.load_date, 0, "", status="rejected", reason=reason,
                      file_size=st.st_size, mtime_ns=st.st_mtime_ns)


def what_to_do(reason: str) -> str:
    if "window" in reason:
        return "move the file under landing/<source>/<YYYY-MM-DD>/ with the date it landed"
    if "after it was loaded" in reason:
        return "write new content to a new file (docs/operations.md, rules for producers)"
    return "replace the file with a readable copy (same name); the next run loads it"


def _load_segments(layout: Layout, result: LoadResult, files: list[LandingFile], segments: list[Segment],
                   load_id: str, load_date: str, loaded_at: dt.datetime, now_ms: int,
                   say: Callable[[str], None]) -> None:
    con = connect(layout)
    try:
        con.execute("create temp table files (file_idx integer, source varchar, source_file varchar)")
        con.executemany("insert into files values (?, ?, ?)",
                        [(i, f.source, f.relative_path) for i, f in enumerate(files)])
        empty = ("(select 0::integer as file_idx, 0::bigint as line_no, 1 as record_no, false as is_skipped, "
                 "''::varchar as line where false)")
        con.execute(f"create temp table staged as {_staged_with_keys(empty, now_ms)}")
        con.execute("create temp table unreadable_lines (file_idx integer, line_no bigint, rule varchar, "
                    "preview varchar)")
        read: list[int] = []
        for idx, (f, seg) in enumerate(zip(files, segments, strict=True)):
            size = seg.end_offset - seg.start_offset
            say(f"reading {f.relative_path} ({size / 1e6:.1f} MB" + (f" from byte {seg.start_offset})"
                                                                       if seg.start_offset else ")"))
            try:
                _stage_file(con, f, seg, idx, now_ms)
            except UnreadableFile as exc:
                result.rejected.append(_rejection(f, str(exc)))
                continue
            read.append(idx)
        if con.execute("select count(*) from unreadable_lines").fetchone()[0]:
            # Lines DuckDB could not read were replaced by a marker line (so line numbers and counts hold);
            # label them with their own rule and what arrived, scrubbed like any quarantined raw line.
            con.execute(f"""
                update staged set rules = [u.rule], content_hash = null,
                       raw_line = left({scrub_sql('u.preview')}, 1000)
                from unreadable_lines as u
                where staged.file_idx = u.file_idx and staged.line_no = u.line_no
            """)
        _decide(con, layout)
        _write_outputs(con, layout, load_id, load_date, loaded_at)
        _fill_results(con, result, files, segments, read)
    finally:
        con.close()


def _stage_file(con: duckdb.DuckDBPyConnection, f: LandingFile, seg: Segment, idx: int, now_ms: int) -> None:
    """Stage one file's segment; when DuckDB cannot read it, retry from a copy with unreadable lines marked."""
    readable = dataclasses.replace(f, path=seg.path)
    try:
        with _line_relation(con, readable, idx, seg.line_offset, seg.numbered, seg.longest_line) as relation:
            con.execute(f"insert into staged {_staged_with_keys(relation, now_ms)}")
        return
    except (duckdb.Error, OSError, EOFError, zlib.error) as first_error:  # OSError: gzip.BadGzipFile
        error = first_error
    # A failed statement inserts nothing; the plain, sanitized copy is staged instead, on one thread.
    clean = seg.path.with_name(f"{idx}.clean.ndjson")
    bad = landing.sanitized_copy(seg.path, f.is_gzip, clean, landing.MAX_LINE_BYTES, numbered=seg.numbered)
    readable = dataclasses.replace(f, path=clean)
    try:
        with _line_relation(con, readable, idx, seg.line_offset) as relation:
            con.execute(f"insert into staged {_staged_with_keys(relation, now_ms)}")
    except duckdb.Error as exc:
        raise UnreadableFile(f"unreadable file: {str(exc).splitlines()[0]} (first error: "
                             f"{str(error).splitlines()[0]})") from exc
    con.executemany("insert into unreadable_lines values (?, ?, ?, ?)",
                    [(idx, seg.line_offset + n, rule, preview) for n, rule, preview in bad])


def _staged_with_keys(relation: str, now_ms: int) -> str:
    """Staged rows plus what deduplication needs: a content hash of valid records and the event date.

    Computed while the lines stream in, so no later step has to rescan or join the wide staged table.
    """
    interaction_hash = _content_hash_sql(c.INTERACTION_FIELDS)
    feedback_hash = _content_hash_sql(c.FEEDBACK_FIELDS)
    return f"""
        select *,
               case when len(rules) > 0 then null
                    when record_type = 'interaction' then {interaction_hash}
                    when record_type = 'feedback' then {feedback_hash} end as content_hash,
               epoch_ms(timestamp)::date as event_date
        from ({staged_select(relation, now_ms, ('record_no', 'is_skipped'))}) as s
    """


def _decide(con: duckdb.DuckDBPyConnection, layout: Layout) -> None:
    """Give every staged row an outcome: accepted, duplicate, quarantined (with its rule) or blank.

    Only ids seen more than once (in this batch, or already in the lake) go through the ranking; the
    rest, nearly every row, are accepted without a sort. `outcomes` is a view, not a copy of `staged`.
    """
    con.execute("""
        create temp table valid as
        select file_idx, line_no, record_no, record_type, content_hash, event_date,
               case when record_type = 'interaction' then event_id else feedback_id end as record_id
        from staged
        where content_hash is not null
    """)
    # Earlier loads, from the id index of accepted interactions. Feedback is small: read it whole.
    history_parts = ["select 'interaction' as record_type, '' as record_id, '' as content_hash where false"]
    if _parquet_has_files(layout.event_index):
        # Every earlier load, whatever the event date (an id re-sent with another timestamp is still the
        # same event): the id index holds only (event_id, content_hash), read with a semi-join on this
        # batch's ids, never the wide raw rows.
        history_parts.append(
            f"select 'interaction', event_id, content_hash from read_parquet("
            f"{quote_path(layout.glob(layout.event_index))}, hive_partitioning = false) "
            f"where event_id in (select record_id from valid where record_type = 'interaction')")
    if _parquet_has_files(layout.raw_feedback):
        history_parts.append(
            f"select 'feedback', feedback_id, content_hash from read_parquet("
            f"{quote_path(layout.glob(layout.raw_feedback))}, hive_partitioning = true, union_by_name = true)")
    con.execute(f"""
        create temp table history as
        select record_type, record_id, min(content_hash) as content_hash
        from ({' union all '.join(history_parts)}) as h
        group by record_type, record_id
    """)
    con.execute("""
        create temp table contested as
        with repeated as (
          select record_type, record_id from valid group by record_type, record_id having count(*) > 1
          union
          select v.record_type, v.record_id from valid as v
          join history as h on h.record_type = v.record_type and h.record_id = v.record_id
        ),
        ranked as (
          select v.*,
                 row_number() over w as rn,
                 first_value(v.content_hash) over w as first_hash,
                 h.content_hash as history_hash
          from valid as v
          join repeated as r on r.record_type = v.record_type and r.record_id = v.record_id
          left join history as h on h.record_type = v.record_type and h.record_id = v.record_id
          window w as (partition by v.record_type, v.record_id order by v.file_idx, v.line_no, v.record_no)
        )
        select file_idx, line_no, record_no,
               case when history_hash is not null then
                      case when history_hash = content_hash then 'duplicate' else 'conflict' end
                    when rn = 1 then 'accepted'
                    when content_hash = first_hash then 'duplicate'
                    else 'conflict' end as decision
        from ranked
    """)
    con.execute(f"""
        create temp view outcomes as
        select s.*,
               case when s.is_skipped then 'skipped'
                    when s.record_type = 'blank' then 'blank'
                    when len(s.rules) > 0 then 'quarantined'
                    when d.decision = 'conflict' then 'quarantined'
                    else coalesce(d.decision, 'accepted') end as outcome,
               case when len(s.rules) > 0 then s.rules
                    when d.decision = 'conflict' then ['{c.RULE_DUPLICATE_CONFLICT}'] end as broken_rules,
               f.source, f.source_file
        from staged as s
        left join contested as d using (file_idx, line_no, record_no)
        join files as f using (file_idx)
    """)
    con.execute("drop table valid; drop table history")


def _write_outputs(con: duckdb.DuckDBPyConnection, layout: Layout, load_id: str, load_date: str,
                   loaded_at: dt.datetime) -> None:
    lineage = (f"source, source_file, line_no as line_number, record_no as record_number, '{load_id}' as load_id, "
               f"'{load_date}'::date as load_date, '{loaded_at.isoformat()}'::timestamp as loaded_at")
    partition = f"load_date={load_date}"
    outputs = [
        (layout.raw_interactions / partition,
         f"select {', '.join(INTERACTION_COLUMNS)}, event_date, content_hash, {lineage} "
         f"from outcomes where outcome = 'accepted' and record_type = 'interaction'"),
        (layout.raw_feedback / partition,
         f"select {', '.join(FEEDBACK_COLUMNS)}, content_hash, {lineage} "
         f"from outcomes where outcome = 'accepted' and record_type = 'feedback'"),
        (layout.quarantine / partition,
         f"select broken_rules[1] as rule, broken_rules as rules, record_type, "
         f"{', '.join(f.name for f in all_fields())}, raw_line, {lineage} "
         f"from outcomes where outcome = 'quarantined'"),
    ]
    for directory, select in outputs:
        directory.mkdir(parents=True, exist_ok=True)
        target = directory / f"{load_id}.parquet"
        # Only quarantine is sorted (people read it by file and line); raw order does not matter.
        order = " order by source_file, line_number, record_number" if directory.parent == layout.quarantine else ""
        con.execute(f"copy ({select}{order}) to {quote_path(target)} (format parquet, compression zstd)")
    layout.event_index.mkdir(parents=True, exist_ok=True)
    con.execute(f"""
        copy (select event_id, content_hash, event_date from outcomes
              where outcome = 'accepted' and record_type = 'interaction')
        to {quote_path(layout.event_index)} (format parquet, compression zstd, partition_by (event_date),
                                     overwrite_or_ignore, filename_pattern '{load_id}__{{i}}')
    """)


def _fill_results(con: duckdb.DuckDBPyConnection, result: LoadResult, files: list[LandingFile],
                  segments: list[Segment], read: list[int]) -> None:
    per_file = {i: FileResult(files[i].source, files[i].relative_path, files[i].load_date, segments[i].end_offset,
                              segments[i].sha256, start_offset=segments[i].start_offset,
                              file_size=segments[i].file_size, mtime_ns=segments[i].mtime_ns) for i in read}
    rows = con.execute("""
        select file_idx,
               count(*) filter (where outcome <> 'blank') as lines,
               count(*) filter (where outcome = 'blank') as blank_lines,
               count(*) filter (where outcome = 'accepted' and record_type = 'interaction') as accepted,
               count(*) filter (where outcome = 'accepted' and record_type = 'feedback') as feedback_accepted,
               count(*) filter (where outcome = 'quarantined') as quarantined,
               count(*) filter (where outcome = 'duplicate') as duplicates,
               count(*) filter (where outcome = 'skipped') as skipped
        from outcomes group by file_idx
    """).fetchall()
    for idx, lines, blank, accepted, fb, quarantined, duplicates, skipped in rows:
        fr = per_file[idx]
        fr.lines, fr.blank_lines, fr.accepted, fr.feedback_accepted = lines, blank, accepted, fb
        fr.quarantined, fr.duplicates, fr.skipped = quarantined, duplicates, skipped
    result.files = [per_file[i] for i in read]
    for rule, n in con.execute("select broken_rules[1], count(*) from outcomes where outcome = 'quarantined' "
                               "group by 1 order by 2 desc").fetchall():
        result.rule_counts[rule] = n
    result.examples = [
        {"file": src, "line": line, "record": record, "rule": rule}
        for src, line, record, rule in con.execute(
            "select source_file, line_no, record_no, broken_rules[1] from outcomes where outcome = 'quarantined' "
            "order by file_idx, line_no, record_no limit 20").fetchall()]


def _commit_manifest(layout: Layout, load_id: str, load_date: str, loaded_at: dt.datetime,
                     result: LoadResult) -> None:
    """Write the load's manifest last, atomically: from here on the load counts as done.

    One row per file read (status 'loaded': the bytes [start_offset, size_bytes) were loaded, sha256 covers
    the file's bytes up to size_bytes) or rejected (status 'rejected', with the reason).
    """
    con = duckdb.connect()
    try:
        con.execute("""create table m (load_id varchar, load_date date, loaded_at timestamp, source varchar,
                       relative_path varchar, size_bytes bigint, sha256 varchar, lines bigint, blank_lines bigint,
                       accepted bigint, feedback_accepted bigint, quarantined bigint, duplicates bigint,
                       skipped bigint, status varchar, reason varchar, start_offset bigint, file_size bigint,
                       mtime_ns bigint)""")
        con.executemany("insert into m values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", [
            (load_id, f.load_date or load_date, loaded_at, f.source, f.relative_path, f.size_bytes, f.sha256,
             f.lines, f.blank_lines, f.accepted, f.feedback_accepted, f.quarantined, f.duplicates, f.skipped,
             f.status, f.reason or None, f.start_offset, f.file_size, f.mtime_ns)
            for f in [*result.files, *result.rejected]])
        tmp = layout.manifest / f".{load_id}.parquet.tmp"
        con.execute(f"copy m to {quote_path(tmp)} (format parquet)")
    finally:
        con.close()
    with open(tmp, "rb") as fh:
        os.fsync(fh.fileno())
    os.replace(tmp, layout.manifest / f"{load_id}.parquet")
