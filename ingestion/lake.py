"""The lake writer: pending landing files -> validated Parquet (raw), quarantine and a load manifest.

Guarantees (DESIGN section 3):
- each landing file is loaded exactly once: the manifest records path, size, hash and counts;
- per file, lines = accepted + quarantined + exact duplicates dropped + skipped (blank lines aside), where
  "lines" counts records read: for native files one per non-blank line (or JSON-array element); for
  otlp files one per span (plus one per source line that is not a TracesData object); for posthog files
  one per exported event. `skipped` counts spans that are not model calls and events that are not AI
  events (only the adapters skip; a native line is never skipped);
- an exact duplicate (same event_id, same content) is dropped and counted, whether its twin is in
  the same load or an earlier one; a conflicting duplicate (same id, other content) is quarantined;
- crash safety: a load writes its Parquet under a load id and commits by writing its manifest
  last (atomically); outputs of a load without a manifest are orphans and are removed before the
  next load, so a re-run redoes the work and nothing is doubled.

Every file is read by DuckDB. OTLP and PostHog lines first go through the adapters' SQL
(`ingestion.adapters`), which maps them to canonical JSON lines; from there every source takes the same
SQL path. One source line can hold several records (an OTLP line holds many spans): rows carry
`record_number`, the record's ordinal in its line, beside `line_number`.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import json
import os
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import duckdb

from ingestion import contract as c
from ingestion import pii
from ingestion.adapters.reader import ADAPTED_SOURCES, adapted_relation
from ingestion.contract_sql import all_fields, staged_select
from ingestion.landing import LandingFile, discover, fingerprint, lines_sql, starts_with_array
from ingestion.layout import SOURCES, Layout

NATIVE_SOURCES = ("native",)
ALL_SOURCES = SOURCES

# DuckDB limits for the loader: stay well under the 2 GB budget and spill the rest to AIW_HOME/tmp.
DEFAULT_MEMORY_LIMIT = os.environ.get("AIW_DUCKDB_MEMORY_LIMIT", "1GB")

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

    @property
    def reconciles(self) -> bool:
        return self.lines == (self.accepted + self.feedback_accepted + self.quarantined + self.duplicates
                              + self.skipped)


@dataclass
class LoadResult:
    """The outcome of loading one load date's pending files."""

    load_date: str
    load_id: str | None = None
    files: list[FileResult] = field(default_factory=list)
    rule_counts: Counter[str] = field(default_factory=Counter)
    examples: list[dict[str, object]] = field(default_factory=list)  # first quarantined rows: file, line, rule
    skipped_changed: list[str] = field(default_factory=list)
    seconds: float = 0.0

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


def connect(layout: Layout, memory_limit: str = DEFAULT_MEMORY_LIMIT) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB for lake work, bounded in memory and spilling under AIW_HOME/tmp."""
    con = duckdb.connect(config={"memory_limit": memory_limit, "temp_directory": str(layout.tmp / "duckdb")})
    con.execute("set preserve_insertion_order = false")
    # The adapters read times written without an offset as UTC (docs/adapters.md).
    con.execute("set TimeZone = 'UTC'")
    # The contract's SQL replaces ids holding PII by a hash keyed with this AIW_HOME's key (ingestion.pii).
    pii.set_key(con, pii.load_key(layout.home))
    return con


def _q(path: Path | str) -> str:
    return "'" + str(path).replace("'", "''") + "'"


def _parquet_has_files(directory: Path) -> bool:
    return directory.exists() and any(directory.rglob("*.parquet"))


def read_manifest(layout: Layout) -> dict[str, dict[str, object]]:
    """relative_path -> manifest row, for every committed load."""
    if not _parquet_has_files(layout.manifest):
        return {}
    con = duckdb.connect()
    # union_by_name: manifests written before a column was added (skipped) still read.
    rows = con.execute(f"select * from read_parquet({_q(layout.manifest / '*.parquet')}, union_by_name = true)"
                       ).fetchall()
    names = [d[0] for d in con.description]
    con.close()
    return {r[names.index("relative_path")]: dict(zip(names, r, strict=False)) for r in rows}


def committed_load_ids(layout: Layout) -> set[str]:
    return {p.stem for p in layout.manifest.glob("*.parquet")}


def remove_orphans(layout: Layout) -> list[Path]:
    """Delete lake files of loads that never committed (a crash between writing data and manifest)."""
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
    return removed


def pending_files(layout: Layout, sources: tuple[str, ...] = ALL_SOURCES,
                  load_date: str | None = None) -> tuple[list[LandingFile], list[str]]:
    """Landing files not yet in the manifest, and files that changed after they were loaded."""
    manifest = read_manifest(layout)
    pending, changed = [], []
    for f in discover(layout, sources):
        if load_date is not None and f.load_date != load_date:
            continue
        done = manifest.get(f.relative_path)
        if done is None:
            pending.append(f)
        elif done["size_bytes"] != f.path.stat().st_size:
            changed.append(f.relative_path)  # landing files are immutable; say so instead of reloading
    return pending, changed


def pending_load_dates(layout: Layout, sources: tuple[str, ...] = ALL_SOURCES) -> list[str]:
    return sorted({f.load_date for f in pending_files(layout, sources)[0]})


@contextlib.contextmanager
def _line_relation(con: duckdb.DuckDBPyConnection, f: LandingFile, idx: int) -> Iterator[str]:
    """The SQL relation (file_idx, line_no, record_no, is_skipped, line) of one landing file.

    Adapted sources (OTLP, PostHog) come mapped to canonical lines, with a row per skipped record
    (`is_skipped`, no line) so that the loader counts it; a native line is never skipped.
    """
    if f.source not in ADAPTED_SOURCES:
        yield _native_relation(con, f, idx)
        return
    name = f"document_{idx}"  # registered only when the file is one JSON document read in Python
    try:
        yield (f"(select {idx} as file_idx, line_no, record_no, is_skipped, line "
               f"from {adapted_relation(con, f.path, f.source, name)})")
    finally:
        with contextlib.suppress(duckdb.Error):
            con.unregister(name)


def _native_relation(con: duckdb.DuckDBPyConnection, f: LandingFile, idx: int) -> str:
    """SQL relation (file_idx, line_no, record_no, line) for one native landing file."""
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


def _content_hash_sql(columns: list[str]) -> str:
    parts = ", ".join(f"coalesce(cast({col} as varchar), '\\N')" for col in columns)
    return f"md5(concat_ws(chr(31), {parts}))"


def load_partition(layout: Layout, load_date: str, *, now_ms: int | None = None,
                   sources: tuple[str, ...] = ALL_SOURCES,
                   progress: Callable[[str], None] | None = None) -> LoadResult:
    """Load every pending landing file whose load date is `load_date`. Idempotent."""
    started = time.perf_counter()
    say = progress or (lambda _msg: None)
    layout.ensure()
    removed = remove_orphans(layout)
    if removed:
        say(f"removed {len(removed)} orphaned lake file(s) of an interrupted load")
    files, changed = pending_files(layout, sources, load_date)
    result = LoadResult(load_date=load_date, skipped_changed=changed)
    for rel in changed:
        say(f"warning: {rel} changed after it was loaded; landing files are immutable, it is not reloaded")
    if not files:
        result.seconds = time.perf_counter() - started
        return result

    now_ms = now_ms if now_ms is not None else int(time.time() * 1000)
    loaded_at = dt.datetime.fromtimestamp(now_ms / 1000, tz=dt.UTC).replace(tzinfo=None)
    fingerprints = [fingerprint(f.path) for f in files]
    batch_digest = hashlib.sha256("".join(sha for _size, sha in fingerprints).encode()).hexdigest()[:10]
    load_id = f"{load_date}T{loaded_at:%H%M%S}-{batch_digest}"
    result.load_id = load_id

    con = connect(layout)
    try:
        con.execute("create temp table files (file_idx integer, source varchar, source_file varchar)")
        con.executemany("insert into files values (?, ?, ?)",
                        [(i, f.source, f.relative_path) for i, f in enumerate(files)])
        empty = ("(select 0::integer as file_idx, 0::bigint as line_no, 1 as record_no, false as is_skipped, "
                 "''::varchar as line where false)")
        con.execute(f"create temp table staged as {_staged_with_keys(empty, now_ms)}")
        for idx, f in enumerate(files):
            say(f"reading {f.relative_path} ({fingerprints[idx][0] / 1e6:.1f} MB)")
            with _line_relation(con, f, idx) as relation:
                try:
                    con.execute(f"insert into staged {_staged_with_keys(relation, now_ms)}")
                except duckdb.Error as exc:  # a file DuckDB cannot read at all (a line over 32 MB, say)
                    raise LoadError(f"{f.relative_path}: {exc}") from exc
        _decide(con, layout)
        _write_outputs(con, layout, load_id, load_date, loaded_at)
        _fill_results(con, result, files, fingerprints)
    finally:
        con.close()
    _commit_manifest(layout, load_id, load_date, loaded_at, result)
    result.seconds = time.perf_counter() - started
    return result


def _staged_with_keys(relation: str, now_ms: int) -> str:
    """Staged rows plus what deduplication needs: a content hash of valid records and the event date.

    Computed while the lines stream in, so no later step has to rescan or join the wide staged table.
    """
    interaction_hash = _content_hash_sql(INTERACTION_COLUMNS)
    feedback_hash = _content_hash_sql(FEEDBACK_COLUMNS)
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
    # Earlier loads: accepted interactions are indexed by event date, so only the dates this batch
    # touches are read (an hourly load does not re-read history). Feedback is small: read it whole.
    history_parts = ["select 'interaction' as record_type, '' as record_id, '' as content_hash where false"]
    if _parquet_has_files(layout.event_index):
        dates = [r[0] for r in con.execute("select distinct event_date::varchar from valid "
                                           "where record_type = 'interaction'").fetchall()]
        if dates:
            date_list = ", ".join(f"'{d}'" for d in dates)
            history_parts.append(
                f"select 'interaction', event_id, content_hash from read_parquet("
                f"{_q(layout.glob(layout.event_index))}, hive_partitioning = true) "
                f"where event_date::varchar in ({date_list})")
    if _parquet_has_files(layout.raw_feedback):
        history_parts.append(
            f"select 'feedback', feedback_id, content_hash from read_parquet("
            f"{_q(layout.glob(layout.raw_feedback))}, hive_partitioning = true, union_by_name = true)")
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
        con.execute(f"copy ({select}{order}) to {_q(target)} (format parquet, compression zstd)")
    layout.event_index.mkdir(parents=True, exist_ok=True)
    con.execute(f"""
        copy (select event_id, content_hash, event_date from outcomes
              where outcome = 'accepted' and record_type = 'interaction')
        to {_q(layout.event_index)} (format parquet, compression zstd, partition_by (event_date),
                                     overwrite_or_ignore, filename_pattern '{load_id}__{{i}}')
    """)


def _fill_results(con: duckdb.DuckDBPyConnection, result: LoadResult, files: list[LandingFile],
                  fingerprints: list[tuple[int, str]]) -> None:
    per_file = {f: FileResult(lf.source, lf.relative_path, lf.load_date, *fingerprints[f])
                for f, lf in enumerate(files)}
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
    result.files = [per_file[i] for i in range(len(files))]
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
    """Write the load's manifest last, atomically: from here on the load counts as done."""
    con = duckdb.connect()
    try:
        con.execute("""create table m (load_id varchar, load_date date, loaded_at timestamp, source varchar,
                       relative_path varchar, size_bytes bigint, sha256 varchar, lines bigint, blank_lines bigint,
                       accepted bigint, feedback_accepted bigint, quarantined bigint, duplicates bigint,
                       skipped bigint)""")
        con.executemany("insert into m values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", [
            (load_id, load_date, loaded_at, f.source, f.relative_path, f.size_bytes, f.sha256, f.lines,
             f.blank_lines, f.accepted, f.feedback_accepted, f.quarantined, f.duplicates, f.skipped)
            for f in result.files])
        tmp = layout.manifest / f".{load_id}.parquet.tmp"
        con.execute(f"copy m to {_q(tmp)} (format parquet)")
    finally:
        con.close()
    with open(tmp, "rb") as fh:
        os.fsync(fh.fileno())
    os.replace(tmp, layout.manifest / f"{load_id}.parquet")
