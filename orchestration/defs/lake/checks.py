"""The event contract as a blocking asset check on the lake loads of a run."""


import datetime as dt
from pathlib import Path

import dagster as dg
import duckdb

from expectations.runner import validate_parquet
from ingestion.lake import LoadResult
from ingestion.landing import discover
from ingestion.layout import SOURCES, Layout
from orchestration.resources import WarehouseSettings

CONTRACT_CHECK = dg.AssetCheckSpec(
    "event_contract",
    asset="lake_interactions",
    blocking=True,
    description="Great Expectations contract suite over the accepted rows just loaded (must all pass), and each "
                "load date's quarantined share of lines at or under the threshold.",
)


def date_quarantine(layout: Layout, load_date: str) -> tuple[int, int, list[tuple[str, int]], list[str]]:
    """(lines, quarantined, per-rule counts, examples 'file:line rule') over every load of a load date."""
    manifest = layout.manifest / "*.parquet"
    con = duckdb.connect()
    try:
        lines, quarantined = 0, 0
        if any(layout.manifest.glob("*.parquet")):
            lines, quarantined = con.execute(
                f"select coalesce(sum(lines), 0), coalesce(sum(quarantined), 0) "
                f"from read_parquet('{manifest}', union_by_name = true) where load_date = ?::date",
                [load_date]).fetchone()
        qdir = layout.quarantine / f"load_date={load_date}"
        rules, examples = [], []
        if quarantined and qdir.exists():
            q = f"read_parquet('{qdir}/*.parquet', union_by_name = true)"
            rules = con.execute(f"select rule, count(*) from {q} group by 1 order by 2 desc, 1").fetchall()
            # file:line, or file:line#record when the line held several records (OTLP spans).
            examples = [f"{f}:{n}{'' if not k or k == 1 else f'#{k}'} {r}" for f, n, k, r in con.execute(
                f"select source_file, line_number, record_number, rule from {q} "
                "order by source_file, line_number, record_number limit 10").fetchall()]
    finally:
        con.close()
    return int(lines), int(quarantined), rules, examples


def _accepted_files(layout: Layout, loads: list[LoadResult], load_dates: list[str]) -> list[Path]:
    """The accepted-row files to validate: those this run wrote, else everything of the requested dates."""
    new = [layout.raw_interactions / f"load_date={r.load_date}" / f"{r.load_id}.parquet" for r in loads if r.load_id]
    if new:
        return [p for p in new if p.exists()]
    return [p for d in load_dates for p in (layout.raw_interactions / f"load_date={d}").glob("*.parquet")]


def contract_check_result(layout: Layout, load_dates: list[str], loads: list[LoadResult], threshold: float,
                          now_ms: int) -> dg.AssetCheckResult:
    """Validate accepted rows with GX and judge every load date's quarantined share."""
    files = _accepted_files(layout, loads, load_dates)
    spill = str(layout.tmp / "gx")
    report = validate_parquet([str(p) for p in files], now_ms, spill_dir=spill) if files else None
    judged = [r.load_date for r in loads if r.load_id] or load_dates
    per_date = {d: date_quarantine(layout, d) for d in judged}
    over = {d: q / n for d, (n, q, _r, _e) in per_date.items() if n and q / n > threshold}
    gx_ok = report is None or report.success
    failures = [] if report is None else [
        f"{o.expectation}({o.column}): {o.unexpected_count} rows, e.g. {o.examples[:3]}"
        + (f" [error: {o.error}]" if o.error else "") for o in report.failed]
    reasons = [f"load date {d}: quarantined share {share:.2%} is above the {threshold:.0%} threshold"
               for d, share in sorted(over.items())]
    if not gx_ok:
        reasons.append(f"{len(failures)} contract expectation(s) failed on accepted rows")
    lines = sum(n for n, _q, _r, _e in per_date.values())
    quarantined = sum(q for _n, q, _r, _e in per_date.values())
    rule_totals: dict[str, int] = {}
    for _n, _q, rules, _e in per_date.values():
        for rule, count in rules:
            rule_totals[rule] = rule_totals.get(rule, 0) + count
    table = "\n".join(["| rule | rows |", "|---|---|",
                       *[f"| `{r}` | {n} |" for r, n in sorted(rule_totals.items(), key=lambda x: -x[1])]])
    by_date = "\n".join(["| load date | lines | quarantined | share |", "|---|---|---|---|",
                         *[f"| {d} | {n} | {q} | {q / n:.2%} |"
                           for d, (n, q, _r, _e) in sorted(per_date.items()) if n]])
    examples = [e for d in sorted(per_date) for e in per_date[d][3]][:20]
    return dg.AssetCheckResult(
        check_name=CONTRACT_CHECK.name,
        passed=gx_ok and not over,
        severity=dg.AssetCheckSeverity.ERROR,
        description="; ".join(reasons) if reasons else "contract holds",
        metadata={
            "lines": lines,
            "quarantined": quarantined,
            "quarantined_share": dg.MetadataValue.float(round(quarantined / lines, 6) if lines else 0.0),
            "threshold": threshold,
            "accepted_rows_validated": 0 if report is None else report.rows,
            "expectations_evaluated": 0 if report is None else len(report.outcomes),
            "expectations_failed": dg.MetadataValue.json(failures),
            "quarantine_by_rule": dg.MetadataValue.md(table if rule_totals else "none"),
            "quarantine_by_load_date": dg.MetadataValue.md(by_date),
            "quarantine_examples": dg.MetadataValue.json(examples),
        },
    )


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
