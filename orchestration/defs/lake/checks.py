"""The event contract as a blocking asset check on the lake loads of a run."""


import datetime as dt
from pathlib import Path

import dagster as dg
import duckdb

from expectations.runner import DEFAULT_FULL_ROWS, validate_parquet
from ingestion.lake.landing import discover
from ingestion.lake.loader import LoadResult
from ingestion.layout import SOURCES, Layout
from ingestion.sql import quote_path
from orchestration.defs.lake.quarantine import (
    LoadQuarantine,
    accepted_loads,
    load_quarantine,
)
from orchestration.resources import WarehouseSettings

CONTRACT_CHECK = dg.AssetCheckSpec(
    "event_contract",
    asset="lake_interactions",
    blocking=True,
    description="Great Expectations contract suite over the accepted rows just loaded (must all pass), and each "
                "load's quarantined share of lines at or under the threshold (unless an operator accepted the "
                "load with `aiw accept-load`).",
)


def _latest_loads(layout: Layout, load_dates: list[str]) -> list[tuple[str, str]]:
    """(load_id, load_date) of the most recent committed load of each date: what a re-run is judged on."""
    if not load_dates or not any(layout.manifest.glob("*.parquet")):
        return []
    con = duckdb.connect()
    try:
        return [(i, d) for i, d in con.execute(
            f"select arg_max(load_id, loaded_at), load_date::varchar from "
            f"read_parquet({quote_path(layout.manifest / '*.parquet')}, union_by_name = true) "
            "where load_date::varchar in (select unnest(?::varchar[])) group by load_date order by load_date",
            [load_dates]).fetchall()]
    finally:
        con.close()


def _accepted_files(layout: Layout, loads: list[LoadResult], load_dates: list[str]) -> list[Path]:
    """The accepted-row files to validate: those this run wrote, else everything of the requested dates."""
    new = [layout.raw_interactions / f"load_date={r.load_date}" / f"{r.load_id}.parquet" for r in loads if r.load_id]
    if new:
        return [p for p in new if p.exists()]
    return [p for d in load_dates for p in (layout.raw_interactions / f"load_date={d}").glob("*.parquet")]


def contract_check_result(layout: Layout, load_dates: list[str], loads: list[LoadResult], threshold: float,
                          now_ms: int, gx_full_rows: int = DEFAULT_FULL_ROWS) -> dg.AssetCheckResult:
    """Validate accepted rows with GX and judge each load's quarantined share against the threshold.

    The loads judged are this run's; a run that loaded nothing new is judged on the latest load of each
    requested date (so re-running does not silently unblock a bad load). A load is judged on its own
    lines only: a bad sender's load blocks, a later clean load of the same date passes. A load listed in
    AIW_HOME/lake/accepted_loads.jsonl (`aiw accept-load <load_id>`) never blocks.
    """
    files = _accepted_files(layout, loads, load_dates)
    spill = str(layout.tmp / "gx")
    report = (validate_parquet([str(p) for p in files], now_ms, spill_dir=spill, full_rows=gx_full_rows)
              if files else None)
    judged_ids = [(r.load_id, r.load_date) for r in loads if r.load_id] or _latest_loads(layout, load_dates)
    judged = [load_quarantine(layout, i, d) for i, d in judged_ids]
    accepted = accepted_loads(layout)
    over = [q for q in judged if q.lines and q.share > threshold and q.load_id not in accepted]
    waived = [q for q in judged if q.lines and q.share > threshold and q.load_id in accepted]
    gx_ok = report is None or report.success
    sampled = report is not None and report.rows_validated < report.rows
    failures = [] if report is None else [
        f"{o.expectation}({o.column}): {o.unexpected_count} rows"
        + (f" of a sample of {report.rows_validated}" if sampled and "all rows" not in o.expectation else "")
        + f", e.g. {o.examples[:3]}"
        + (f" [error: {o.error}]" if o.error else "") for o in report.failed]
    reasons = [f"load {q.load_id} (load date {q.load_date}): quarantined share {q.share:.2%} is above the "
               f"{threshold:.0%} threshold; fix the sender, or accept it with `aiw accept-load {q.load_id}`"
               for q in over]
    if not gx_ok:
        reasons.append(f"{len(failures)} contract expectation(s) failed on accepted rows")
    lines = sum(q.lines for q in judged)
    quarantined = sum(q.quarantined for q in judged)
    rule_totals: dict[str, int] = {}
    for q in judged:
        for rule, count in q.rules:
            rule_totals[rule] = rule_totals.get(rule, 0) + count
    table = "\n".join(["| rule | rows |", "|---|---|",
                       *[f"| `{r}` | {n} |" for r, n in sorted(rule_totals.items(), key=lambda x: -x[1])]])
    by_load = "\n".join(["| load | load date | lines | quarantined | share | verdict |", "|---|---|---|---|---|---|",
                         *[f"| {q.load_id} | {q.load_date} | {q.lines} | {q.quarantined} | {q.share:.2%} | "
                           f"{_verdict(q, threshold, accepted)} |" for q in judged if q.lines]])
    by_file = "\n".join(["| load | file | lines | quarantined | share |", "|---|---|---|---|---|",
                         *[f"| {q.load_id} | `{f}` | {n} | {k} | {k / n:.2%} |"
                           for q in judged for f, n, k in q.files if n]])
    examples = [e for q in judged for e in q.examples][:20]
    return dg.AssetCheckResult(
        check_name=CONTRACT_CHECK.name,
        passed=gx_ok and not over,
        severity=dg.AssetCheckSeverity.ERROR,
        description="; ".join(reasons) if reasons else "contract holds" + (
            f" ({len(waived)} load(s) over the threshold accepted by an operator)" if waived else ""),
        metadata={
            "lines": lines,
            "quarantined": quarantined,
            "quarantined_share": dg.MetadataValue.float(round(quarantined / lines, 6) if lines else 0.0),
            "threshold": threshold,
            "accepted_rows": 0 if report is None else report.rows,
            # All of them up to WarehouseSettings.gx_full_rows, else a repeatable sample of that many.
            "accepted_rows_validated": 0 if report is None else report.rows_validated,
            "expectations_evaluated": 0 if report is None else len(report.outcomes),
            "expectations_failed": dg.MetadataValue.json(failures),
            "quarantine_by_rule": dg.MetadataValue.md(table if rule_totals else "none"),
            "quarantine_by_load": dg.MetadataValue.md(by_load),
            "quarantine_by_file": dg.MetadataValue.md(by_file),
            "quarantine_examples": dg.MetadataValue.json(examples),
            "accepted_loads": dg.MetadataValue.json([accepted[q.load_id] for q in waived]),
        },
    )


def _verdict(q: LoadQuarantine, threshold: float, accepted: dict[str, dict[str, str]]) -> str:
    if q.share <= threshold:
        return "ok"
    return "accepted by an operator" if q.load_id in accepted else "blocks"


def newest_landing(layout: Layout) -> tuple[dt.datetime | None, str | None]:
    """When the newest landing file (any source) was last written, and its path under landing/."""
    newest: tuple[float, str] | None = None
    for f in discover(layout, SOURCES):
        mtime = f.path.stat().st_mtime
        if newest is None or mtime > newest[0]:
            newest = (mtime, f.relative_path)
    if newest is None:
        return None, None
    return dt.datetime.fromtimestamp(newest[0], tz=dt.UTC), newest[1]


def freshness_result(layout: Layout, max_hours: float, now: dt.datetime) -> dg.AssetCheckResult:
    """Pass when some landing file was written within the last `max_hours`."""
    at, path = newest_landing(layout)
    age_hours = None if at is None else (now - at).total_seconds() / 3600
    passed = age_hours is not None and age_hours <= max_hours
    if at is None:
        why = f"nothing has ever landed under {layout.landing}"
    else:
        why = (f"newest landing file is {age_hours:.1f} h old ({path})" + ("" if passed else
               f", over the {max_hours:g} h limit: check the producers, the collector and the exports"))
    return dg.AssetCheckResult(
        passed=passed, severity=dg.AssetCheckSeverity.ERROR, description=why,
        metadata={"newest_file": path or "(none)", "newest_file_written_at": at.isoformat() if at else "(never)",
                  "age_hours": round(age_hours, 2) if age_hours is not None else -1.0, "max_age_hours": max_hours})


@dg.asset_check(asset="lake_interactions", name="landing_freshness",
                description="Fails when no landing file has been written for longer than the limit "
                            "(WarehouseSettings.freshness_max_hours, else $AIW_FRESHNESS_MAX_HOURS, else 26 h).")
def landing_freshness(settings: WarehouseSettings) -> dg.AssetCheckResult:
    return freshness_result(settings.layout(), settings.max_landing_age_hours(), dt.datetime.now(dt.UTC))
