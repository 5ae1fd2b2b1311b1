"""Which loads hold the marts back: each load's quarantined share, the loads an operator accepted, and
the blocked loads whose rows must stay out of the marts. Plain DuckDB over the manifest, no Dagster, so
`aiw run` and `aiw accept-load` can ask without starting Dagster."""

from __future__ import annotations

import datetime as dt
import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import duckdb

from ingestion.layout import Layout
from ingestion.sql import quote_path

# A load whose quarantined share of lines is above this fails the contract check and blocks the marts: a few
# bad rows are normal, a tenth of a file is a broken producer (WarehouseSettings.quarantine_threshold).
DEFAULT_QUARANTINE_THRESHOLD = 0.05

ACCEPTED_LOADS_FILE = "accepted_loads.jsonl"  # under AIW_HOME/lake: one JSON line per accepted load


@dataclass
class LoadQuarantine:
    """One load's lines and quarantined lines, in total and per source file, with the rules broken."""

    load_id: str
    load_date: str
    lines: int = 0
    quarantined: int = 0
    files: list[tuple[str, int, int]] = field(default_factory=list)  # (relative path, lines, quarantined)
    rules: list[tuple[str, int]] = field(default_factory=list)
    examples: list[str] = field(default_factory=list)

    @property
    def share(self) -> float:
        return self.quarantined / self.lines if self.lines else 0.0


def _accepted_path(layout: Layout) -> Path:
    return layout.lake / ACCEPTED_LOADS_FILE


def accepted_loads(layout: Layout) -> dict[str, dict[str, str]]:
    """load_id -> {load_id, reason, accepted_at}: loads an operator let through despite their quarantine."""
    path = _accepted_path(layout)
    out: dict[str, dict[str, str]] = {}
    if path.exists():
        for line in path.read_text(encoding="utf-8").splitlines():
            try:
                entry = json.loads(line)
                out[str(entry["load_id"])] = entry
            except (ValueError, KeyError, TypeError):
                continue  # a torn line: the others still count
    return out


def accept_load(layout: Layout, load_id: str, reason: str, now: dt.datetime | None = None) -> dict[str, str]:
    """Record that `load_id`'s quarantined share is accepted; ValueError when no committed load has that id."""
    if load_id not in _committed_loads(layout):
        raise ValueError(f"no committed load {load_id!r} in {layout.manifest} "
                         "(see `aiw sql \"select distinct load_id, load_date from lake_manifest\"`)")
    entry = {"load_id": load_id, "reason": reason,
             "accepted_at": (now or dt.datetime.now(dt.UTC)).isoformat(timespec="seconds")}
    path = _accepted_path(layout)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a", encoding="utf-8") as fh:
        fh.write(json.dumps(entry) + "\n")
        fh.flush()
        os.fsync(fh.fileno())
    return entry


def _committed_loads(layout: Layout) -> dict[str, str]:
    """load_id -> load_date of every committed load (its manifest file exists)."""
    if not any(layout.manifest.glob("*.parquet")):
        return {}
    con = duckdb.connect()
    try:
        rows = con.execute("select distinct load_id, load_date::varchar from read_parquet("
                           f"{quote_path(layout.manifest / '*.parquet')}, union_by_name = true)").fetchall()
    finally:
        con.close()
    return {load_id: day for load_id, day in rows}


def load_quarantine(layout: Layout, load_id: str, load_date: str) -> LoadQuarantine:
    """One load's figures from its manifest rows, and its quarantined rows' rules and first examples."""
    result = LoadQuarantine(load_id, load_date)
    manifest = layout.manifest / f"{load_id}.parquet"
    con = duckdb.connect()
    try:
        if manifest.exists():
            result.files = [(f, int(n), int(q)) for f, n, q in con.execute(
                f"select relative_path, coalesce(lines, 0), coalesce(quarantined, 0) "
                f"from read_parquet({quote_path(manifest)}) order by relative_path").fetchall()]
        result.lines = sum(n for _f, n, _q in result.files)
        result.quarantined = sum(q for _f, _n, q in result.files)
        qdir = layout.quarantine / f"load_date={load_date}"
        if result.quarantined and qdir.exists() and any(qdir.glob("*.parquet")):
            q = (f"(select * from read_parquet({quote_path(qdir / '*.parquet')}, union_by_name = true) "
                 "where load_id = $1)")
            result.rules = con.execute(f"select rule, count(*) from {q} group by 1 order by 2 desc, 1",
                                       [load_id]).fetchall()
            # file:line, or file:line#record when the line held several records (OTLP spans).
            result.examples = [f"{f}:{n}{'' if not k or k == 1 else f'#{k}'} {r}" for f, n, k, r in con.execute(
                f"select source_file, line_number, record_number, rule from {q} "
                "order by source_file, line_number, record_number limit 10", [load_id]).fetchall()]
    finally:
        con.close()
    return result


def held_loads(layout: Layout, threshold: float) -> list[LoadQuarantine]:
    """Committed loads whose rows must stay out of the marts: over the threshold, not accepted by an operator,
    and with accepted rows to leak. The accepted rows of a blocked load are in the lake already; without this
    a later run (nothing new, or another date) would build them into the marts unchecked."""
    if not any(layout.manifest.glob("*.parquet")):
        return []
    con = duckdb.connect()
    try:
        rows = con.execute(
            f"select load_id, any_value(load_date)::varchar, sum(coalesce(lines, 0)), "
            f"sum(coalesce(quarantined, 0)), sum(coalesce(accepted, 0) + coalesce(feedback_accepted, 0)) "
            f"from read_parquet({quote_path(layout.manifest / '*.parquet')}, union_by_name = true) "
            "group by load_id order by load_id").fetchall()
    finally:
        con.close()
    accepted = accepted_loads(layout)
    return [load_quarantine(layout, load_id, day) for load_id, day, lines, quarantined, kept in rows
            if lines and quarantined / lines > threshold and kept and load_id not in accepted]
